// The dispatcher loop: wake on NOTIFY (or the poll), claim runnable tasks within the limits,
// launch each through the executor, and reconcile on executor events and on an interval.
import type pg from 'pg';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { TaskStore } from '../tasks/store.js';
import type { Task } from '../tasks/model.js';
import { describeDbError, withPoolClient } from '../db/pool.js';
import { LaunchRejected, type Executor } from './executor.js';
import type { DispatcherMetrics } from './metrics.js';
import { reconcile as reconcilePass } from './reconcile.js';

export interface DispatcherDeps {
  config: Config;
  logger: Logger;
  /** Claims run in transactions and lock checks need a session each: a pool, not one client. */
  pool: pg.Pool;
  executor: Executor;
  metrics: DispatcherMetrics;
  /** Opens the LISTEN connection (reopened when it drops). */
  connectListener(): Promise<pg.Client>;
}

const CLAIM_BATCH = 100;
const EVENT_DEBOUNCE_MS = 50;
const LISTEN_RETRY_MS = 1_000;
const CLAIM_RETRY_MS = 1_000;

export class Dispatcher {
  private readonly store: TaskStore;
  private stopping = false;
  private claiming?: Promise<void>;
  private claimAgain = false;
  private reconciling?: Promise<void>;
  private reconcileAgain: boolean | undefined;
  private readonly launching = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private listener?: pg.Client;
  private eventTimer?: NodeJS.Timeout;

  constructor(private readonly deps: DispatcherDeps) {
    this.store = new TaskStore(deps.pool, deps.config.schema);
  }

  async start(): Promise<void> {
    const { config, executor } = this.deps;
    await executor.start(() => this.reconcileSoon());
    await this.listen();
    this.every(config.pollMs, () => this.wake());
    this.every(config.reconcileMs, () => void this.reconcile(true, 'interval'));
    this.wake();
    void this.reconcile(true, 'interval');
  }

  /** One pass: claim and launch until nothing is claimable, reconcile, and return. */
  async runOnce(waitForRuns: () => Promise<void> = async () => undefined): Promise<void> {
    await this.deps.executor.start(() => undefined);
    await this.claimUntilDone();
    await waitForRuns();
    await this.reconcile(true, 'once');
  }

  /** Stop claiming, let in-flight launches and the current reconcile finish, stop the executor. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const timer of this.timers) clearInterval(timer);
    clearTimeout(this.eventTimer);
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
    await this.claiming;
    await this.reconciling;
    await this.deps.executor.stop();
  }

  /** Ready: the database answers and the executor's backend answered recently. */
  async ready(): Promise<{ ok: boolean; database: boolean; executor: boolean }> {
    const database = await this.deps.pool.query('SELECT 1').then(() => true, () => false);
    const executor = await this.deps.executor.ready().catch(() => false);
    return { ok: database && executor && !this.stopping, database, executor };
  }

  get healthy(): boolean {
    return !this.stopping;
  }

  /** Claims (again) soon; calls while a claim runs are folded into one more round. */
  wake(): void {
    if (this.stopping) return;
    if (this.claiming) {
      this.claimAgain = true;
      return;
    }
    this.claiming = this.claimUntilDone()
      .catch((err) => {
        // Tasks submitted before the failure would otherwise wait for the poll: retry soon.
        this.deps.logger.error({ err: describeDbError(err) }, `Claiming tasks failed; retrying in ${CLAIM_RETRY_MS} ms`);
        this.after(CLAIM_RETRY_MS, () => this.wake());
      })
      .finally(() => { this.claiming = undefined; });
  }

  private async claimUntilDone(): Promise<void> {
    const { config } = this.deps;
    do {
      this.claimAgain = false;
      const tasks = await this.store.claim({
        total: config.concurrency, perType: config.typeConcurrency, jobPrefix: config.jobPrefix, batch: CLAIM_BATCH,
      });
      if (tasks.length) this.deps.logger.debug({ count: tasks.length }, 'Claimed tasks');
      await Promise.all(tasks.map((task) => this.launch(task, 'claimed')));
      if (tasks.length === CLAIM_BATCH) this.claimAgain = true;
    } while (this.claimAgain && !this.stopping);
  }

  /** A relaunch (a lost create) is not a dispatch: it stays out of the latency histogram. */
  private async launch(task: Task, why: 'claimed' | 'relaunched'): Promise<void> {
    const { executor, logger, metrics } = this.deps;
    const name = task.k8s_job_name!;
    this.launching.add(name);
    try {
      const result = await executor.launch({ task, name, attempt: task.launches });
      metrics.launches.inc({ executor: executor.kind, task_type: task.task_type, result });
      if (why === 'claimed') {
        const since = Math.max(task.created_at.getTime(), task.run_after?.getTime() ?? 0);
        metrics.dispatchLatency.observe(Math.max(0, Date.now() - since) / 1000);
      }
      logger.info({ taskId: task.id, job: name, taskType: task.task_type }, `Task ${task.id} launched as ${name}${result === 'exists' ? ' (already existed)' : ''}`);
    } catch (err) {
      if (err instanceof LaunchRejected) {
        metrics.launches.inc({ executor: executor.kind, task_type: task.task_type, result: 'rejected' });
        const message = `Could not create ${name}: ${err.message}`;
        await this.store.recordLaunchOutcome(
          { taskId: task.id, jobName: name, status: 'failed', message },
          { attempts: task.attempts, status: 'queued' });
        metrics.failures.inc({ reason: 'LaunchRejected', retried: 'false' });
        logger.error({ taskId: task.id, job: name }, `Task ${task.id} failed: ${message}`);
      } else {
        // Left queued: the next reconcile finds it without a Job and launches it again.
        metrics.launches.inc({ executor: executor.kind, task_type: task.task_type, result: 'error' });
        logger.warn({ taskId: task.id, job: name, err: (err as Error).message }, `Launching ${name} failed; it will be retried`);
      }
    } finally {
      this.launching.delete(name);
    }
  }

  /** Reconciles after a short quiet period: executor events come in bursts. */
  private reconcileSoon(): void {
    if (this.stopping || this.eventTimer) return;
    this.eventTimer = setTimeout(() => {
      this.eventTimer = undefined;
      void this.reconcile(false, 'event');
    }, EVENT_DEBOUNCE_MS);
  }

  /** One reconcile at a time; a request during one runs once more after it (fresh wins). */
  reconcile(fresh: boolean, trigger: string): Promise<void> {
    if (this.reconciling) {
      this.reconcileAgain = (this.reconcileAgain ?? false) || fresh;
      return this.reconciling;
    }
    const { logger, metrics } = this.deps;
    const run = async () => {
      let again: boolean | undefined = fresh;
      while (again !== undefined && !(this.stopping && trigger !== 'once')) {
        this.reconcileAgain = undefined;
        try {
          await reconcilePass({
            ...this.deps,
            store: this.store,
            runnerHoldsLock: (taskId) => this.runnerHoldsLock(taskId),
            relaunch: (task) => this.launch(task, 'relaunched'),
            isLaunching: (name) => this.launching.has(name),
            retryScheduled: (delay) => this.after(delay * 1000 + 50, () => this.wake()),
          }, again);
          metrics.reconciles.inc({ trigger, result: 'ok' });
        } catch (err) {
          metrics.reconciles.inc({ trigger, result: 'error' });
          logger.warn({ err: (err as Error).message }, 'Reconcile failed; retrying at the next event or interval');
        }
        again = this.reconcileAgain;
      }
    };
    this.reconciling = run().finally(() => { this.reconciling = undefined; });
    return this.reconciling;
  }

  /** Takes and at once frees the task's advisory lock, on a session of its own. */
  private runnerHoldsLock(taskId: number): Promise<boolean> {
    return withPoolClient(this.deps.pool, async (client) => {
      const store = new TaskStore(client, this.deps.config.schema);
      if (!(await store.tryLock(taskId))) return true;
      await store.unlock(taskId);
      return false;
    });
  }

  private async listen(): Promise<void> {
    if (this.stopping) return;
    const { logger, config } = this.deps;
    try {
      logger.debug('Opening the LISTEN connection');
      const client = await this.deps.connectListener();
      client.on('notification', (msg) => {
        this.wake();
        if (msg.payload?.includes('"cancelled"')) this.reconcileSoon();
      });
      // pg can emit several errors for one loss ("terminating connection", then "terminated
      // unexpectedly"): reconnect once, or a second LISTEN connection would be left open.
      let lost = false;
      client.on('error', (err) => {
        if (lost) return;
        lost = true;
        logger.warn({ err: describeDbError(err) }, 'LISTEN connection lost; polling until it is back');
        client.end().catch(() => undefined);
        if (this.listener === client) this.listener = undefined;
        this.after(LISTEN_RETRY_MS, () => void this.listen());
      });
      await new TaskStore(client, config.schema).listen();
      if (this.stopping) {
        await client.end().catch(() => undefined);
        return;
      }
      this.listener = client;
      logger.debug('Listening for task changes');
      // Anything submitted while we were not listening is found by this claim.
      this.wake();
    } catch (err) {
      logger.warn({ err: describeDbError(err) }, 'LISTEN failed; polling until it works');
      this.after(LISTEN_RETRY_MS, () => void this.listen());
    }
  }

  private every(ms: number, fn: () => void): void {
    const timer = setInterval(fn, ms);
    timer.unref();
    this.timers.add(timer);
  }

  private after(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopping) fn();
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }
}
