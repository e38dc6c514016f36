// One level-triggered compare of what should run (tasks queued or running) with what runs
// (Jobs or local runs, observed first), acting on every difference. Events only make it run
// sooner; running it on any state, any number of times, converges to the same result.
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { TaskStore } from '../tasks/store.js';
import { FINAL, type Task } from '../tasks/model.js';
import type { Executor, RunObservation } from './executor.js';
import { reasonLabel, type DispatcherMetrics } from './metrics.js';

export interface ReconcileDeps {
  store: TaskStore;
  executor: Executor;
  config: Config;
  logger: Logger;
  metrics: DispatcherMetrics;
  /** True when some runner holds the task's advisory lock (is executing it right now). */
  runnerHoldsLock(taskId: number): Promise<boolean>;
  /** Launches the task's current Job again (same name: an existing one is found, not duplicated). */
  relaunch(task: Task): Promise<void>;
  /** Names whose create request is in flight in this process. */
  isLaunching(name: string): boolean;
  /** Called with the delay of each retry, so the dispatcher wakes when it is due. */
  retryScheduled(delaySeconds: number): void;
  random?: () => number;
}

/** A finished task's Job still active this long after the task ended is deleted. */
const FINISHED_JOB_GRACE_MS = 60_000;
const ACTIVE: ReadonlyArray<RunObservation['phase']> = ['starting', 'running'];

/**
 * fresh: list from the API (the periodic pass) rather than the watch caches (event passes).
 * Only a fresh pass decides what is missing or stale: caches lag, and staleness is a matter of
 * time, not of events, so event passes (many a second under load) stay at one query.
 */
export async function reconcile(deps: ReconcileDeps, fresh: boolean): Promise<void> {
  const { store, executor } = deps;
  const observedFrom = fresh ? await store.now() : undefined;
  const observed = await executor.observe(fresh);
  const tasks = await store.forReconcile([...new Set(observed.map((o) => o.taskId))]);
  const taskById = new Map(tasks.map((t) => [t.id, t]));
  const observedByName = new Map(observed.map((o) => [o.name, o]));

  for (const run of observed) {
    await settleRun(deps, run, taskById.get(run.taskId));
  }
  if (observedFrom) {
    await relaunchLostCreates(deps, tasks, observedByName, observedFrom);
    await settleVanishedRunners(deps, observedByName);
  }
}

/** Queued tasks whose Job does not exist: create it again (the same name makes that safe). */
async function relaunchLostCreates(deps: ReconcileDeps, tasks: Task[], observedByName: Map<string, RunObservation>, observedFrom: Date): Promise<void> {
  const { executor } = deps;
  for (const task of tasks) {
    if (task.status !== 'queued' || !task.k8s_job_name) continue;
    if (observedByName.has(task.k8s_job_name) || deps.isLaunching(task.k8s_job_name)) continue;
    // Claimed before this pass started and still without a Job: its create was lost (API down,
    // dispatcher killed mid-launch, Job deleted by hand). The same name makes a retry safe.
    // A local executor sees only its own runs: another replica's may be starting, so wait
    // the start deadline before launching it here (the runner's lock keeps it to one run anyway).
    const launchedBefore = executor.sharedView ? observedFrom : new Date(observedFrom.getTime() - deps.config.startDeadlineSeconds * 1000);
    if (task.queued_at && task.queued_at < launchedBefore) {
      deps.logger.warn({ taskId: task.id, job: task.k8s_job_name }, `Task ${task.id} is queued but Job ${task.k8s_job_name} does not exist; launching it again`);
      await deps.relaunch(task);
    }
  }
}

/** Acts on one Job or local run, given its task (undefined: the row is gone). */
async function settleRun(deps: ReconcileDeps, run: RunObservation, task: Task | undefined): Promise<void> {
  const { executor, logger, config } = deps;
  const active = ACTIVE.includes(run.phase);
  const current = task && !FINAL.includes(task.status) && task.k8s_job_name === run.name;

  if (!current) {
    // A cancelled task's Job goes whatever its state: that is what cancelling asks for.
    if ((active && shouldDeleteOrphan(task)) || task?.status === 'cancelled') {
      const why = !task ? 'its task no longer exists'
        : task.status === 'cancelled' ? 'its task was cancelled'
          : FINAL.includes(task.status) ? `its task is ${task.status}`
            : `its task moved on to ${task.k8s_job_name ?? 'a new launch'}`;
      logger.info({ taskId: run.taskId, job: run.name }, `Deleting ${run.name}: ${why}`);
      await executor.remove(run.name);
    } else if (run.phase === 'failed' && task && task.k8s_job_name === run.name && FINAL.includes(task.status) && task.log_tail === null) {
      await deps.store.recordLogTail(task.id, run.name, (await executor.logTail(run.name, config.logTailLines)) ?? '');
    }
    return;
  }

  if (run.phase === 'running') return;
  if (run.phase === 'starting') {
    if (run.suspended) return; // waiting for admission (Kueue): not ours to time out
    const waitedMs = Date.now() - run.createdAt.getTime();
    if (waitedMs < config.startDeadlineSeconds * 1000 || task.status !== 'queued') return;
    const reason = run.blockedBy ?? 'Pod did not start';
    const failed = await recordOutcome(deps, task, run, `${reason} (not started within ${config.startDeadlineSeconds} s)`, false);
    if (failed) await executor.remove(run.name);
    return;
  }

  // Finished without the runner ending the task: the runner died, was killed, or never started.
  if (task.status === 'running' && await deps.runnerHoldsLock(task.id)) return; // another runner has it
  if (run.phase === 'succeeded') {
    await recordOutcome(deps, task, run, `${run.name} finished but the task is still ${task.status}: the runner exited without finishing it`, true);
  } else {
    await recordOutcome(deps, task, run, run.reason ?? `${run.name} failed`, run.retryable ?? false);
  }
}

function shouldDeleteOrphan(task: Task | undefined): boolean {
  if (!task || task.status === 'cancelled') return true;
  if (!FINAL.includes(task.status)) return true; // relaunched under another name
  // A completed or failed task's pod is usually exiting on its own; give it time.
  return !task.finished_at || Date.now() - task.finished_at.getTime() > FINISHED_JOB_GRACE_MS;
}

/**
 * A task left running whose runner stopped sending heartbeats, holds no lock, and has no
 * active Job: the runner is gone (node lost, process killed, laptop closed).
 */
async function settleVanishedRunners(deps: ReconcileDeps, observedByName: Map<string, RunObservation>): Promise<void> {
  for (const task of await deps.store.staleRunning(deps.config.staleSeconds)) {
    const run = task.k8s_job_name ? observedByName.get(task.k8s_job_name) : undefined;
    // An active Job is still at work; a finished one was settled by settleRun, with its own reason.
    if (run) continue;
    if (await deps.runnerHoldsLock(task.id)) continue;
    const seconds = task.heartbeat_at ? Math.round((Date.now() - task.heartbeat_at.getTime()) / 1000) : undefined;
    const reason = `Runner vanished: worker ${task.worker ?? '(unknown)'} sent no heartbeat for ${seconds ?? '?'} s and holds no lock`;
    await recordOutcome(deps, task, undefined, reason, true);
  }
}

/** Retry (infrastructure failures, while attempts remain) or fail; returns true if recorded. */
async function recordOutcome(deps: ReconcileDeps, task: Task, run: RunObservation | undefined, reason: string, retryable: boolean): Promise<boolean> {
  const { store, config, logger, metrics } = deps;
  const used = Math.max(task.attempts, task.launches);
  const retry = retryable && used < task.max_attempts;
  const delaySeconds = retry ? backoffSeconds(config, used, deps.random ?? Math.random) : 0;
  const message = retry
    ? `${reason}; retrying in ${delaySeconds} s (attempt ${used} of ${task.max_attempts} failed)`
    : retryable ? `Gave up after ${used} of ${task.max_attempts} attempts: ${reason}` : reason;
  const logTail = run && run.phase === 'failed' ? await deps.executor.logTail(run.name, config.logTailLines) : undefined;
  const updated = await store.recordLaunchOutcome(
    { taskId: task.id, jobName: task.k8s_job_name ?? '', status: retry ? 'pending' : 'failed', message, logTail, delaySeconds },
    { attempts: task.attempts, status: task.status });
  if (!updated) return false;
  metrics.failures.inc({ reason: reasonLabel(reason), retried: String(retry) });
  logger.warn({ taskId: task.id, job: task.k8s_job_name, retry }, `Task ${task.id}: ${message}`);
  if (retry) deps.retryScheduled(delaySeconds);
  return true;
}

/** Exponential backoff with ±20 % jitter, capped: base·2^(n-1). */
export function backoffSeconds(config: Pick<Config, 'retryBaseSeconds' | 'retryMaxSeconds'>, failedAttempts: number, random: () => number): number {
  const exponential = config.retryBaseSeconds * 2 ** Math.max(0, failedAttempts - 1);
  const capped = Math.min(config.retryMaxSeconds, exponential);
  return Math.round(capped * (0.8 + 0.4 * random()) * 10) / 10;
}
