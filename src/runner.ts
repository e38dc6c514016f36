// The guide's execution flow for one task. Returns an outcome with the exit code; it never
// calls process.exit, so tests and other launchers can run it in-process.
import type { Logger } from './logger.js';
import type { Config } from './config.js';
import type { TaskStore } from './tasks/store.js';
import type { TaskFiles } from './storage.js';
import { InputError, serialiseResult } from './storage.js';
import { InvalidParamsError, UnsupportedTaskTypeError, validateParams, type PluginContext, type PluginRegistry } from './plugins.js';
import { BusinessError, RUNNABLE, TaskNotFoundError, describeRef, type Task, type TaskRef } from './tasks/model.js';
import { isConnectionError, describeDbError } from './db/pool.js';

export type RunSelector = TaskRef | { next: true };

export const EXIT = { ok: 0, failed: 1, usage: 2, tempfail: 75, interrupted: 143 } as const;

export interface RunOutcome {
  exitCode: number;
  taskId?: number;
  /** What happened: completed, failed, skipped, released (interrupted, runnable again), cancelled, db-unavailable. */
  result: 'completed' | 'failed' | 'skipped' | 'released' | 'cancelled' | 'db-unavailable' | 'not-found' | 'idle';
  message?: string;
}

export interface RunnerDeps {
  store: TaskStore;
  files: TaskFiles;
  registry: PluginRegistry;
  logger: Logger;
  worker: string;
  config: Config;
  /** Aborted from outside: SIGTERM (reason Interrupted) or a lost database connection. */
  signal?: AbortSignal;
}

/** Abort reasons the runner tells apart. */
export class Interrupted extends Error {
  constructor(readonly signalName: string) {
    super(`Interrupted by ${signalName}`);
    this.name = 'Interrupted';
  }
}
class TimedOut extends Error {
  constructor(seconds: number) {
    super(`Timed out after ${seconds} seconds (timeout_seconds)`);
    this.name = 'TimedOut';
  }
}
class Cancelled extends Error {
  constructor() {
    super('Cancelled by request');
    this.name = 'Cancelled';
  }
}
class LostOwnership extends Error {
  constructor(detail: string) {
    super(`This runner no longer owns the task: ${detail}`);
    this.name = 'LostOwnership';
  }
}

const RULE = '='.repeat(60);
const pyList = (keys: string[]) => `[${keys.map((k) => `'${k}'`).join(', ')}]`;

export async function runTask(deps: RunnerDeps, selector: RunSelector): Promise<RunOutcome> {
  const { logger } = deps;
  logger.info(RULE);
  logger.info('Task Execution Script Started');
  logger.info(RULE);
  try {
    const claimed = await lookUp(deps, selector);
    if ('exitCode' in claimed) return claimed;
    try {
      return await execute(deps, claimed.task);
    } finally {
      await deps.store.unlock(claimed.task.id).catch(() => undefined);
    }
  } catch (err) {
    if (isConnectionError(err)) {
      const message = `Database unavailable: ${describeDbError(err)}; nothing was recorded, the task can run again`;
      logger.error({ err: describeDbError(err) }, message);
      return { exitCode: EXIT.tempfail, result: 'db-unavailable', message };
    }
    throw err;
  }
}

/** Finds the task, checks its status and takes its advisory lock, or says why not. */
async function lookUp(deps: RunnerDeps, selector: RunSelector): Promise<{ task: Task } | RunOutcome> {
  const { store, logger } = deps;
  if ('next' in selector) {
    logger.info('Querying the next runnable pending task...');
    for (const candidate of await store.nextRunnable(20)) {
      if (await store.tryLock(candidate.id)) {
        logFound(logger, candidate);
        return { task: candidate };
      }
    }
    logger.info('No runnable pending task');
    return { exitCode: EXIT.ok, result: 'idle', message: 'No runnable pending task' };
  }
  logger.info(`Querying task with ${describeRef(selector)}...`);
  const task = await store.find(selector);
  if (!task) {
    const message = `Business error: ${new TaskNotFoundError(selector).message}`;
    logger.error(message);
    return { exitCode: EXIT.failed, result: 'not-found', message };
  }
  logFound(logger, task);
  if (!RUNNABLE.includes(task.status)) {
    const message = `Task ${task.id} has status ${task.status}: only pending, queued or running tasks are executed; skipping`;
    logger.info(message);
    return { exitCode: EXIT.ok, taskId: task.id, result: 'skipped', message };
  }
  if (!(await store.tryLock(task.id))) {
    const message = `Task ${task.id} is being executed by another runner; exiting without changes`;
    logger.info(message);
    return { exitCode: EXIT.ok, taskId: task.id, result: 'skipped', message };
  }
  return { task };
}

function logFound(logger: Logger, task: Task): void {
  logger.info({ taskId: task.id }, `Task found: ID=${task.id}, JobID=${task.job_id}, Type=${task.task_type}, Status=${task.status}`);
}

async function execute(deps: RunnerDeps, found: Task): Promise<RunOutcome> {
  const { store, files, registry, logger, worker } = deps;
  const task = await store.startAttempt(found.id, worker);
  if (!task) return cannotStart(deps, found);

  logger.info('Starting task execution...');
  logger.info({ taskId: task.id, attempt: task.attempts, worker }, `Task ${task.id} started execution`);

  const controller = new AbortController();
  const stopOnOutside = () => controller.abort(deps.signal?.reason);
  if (deps.signal?.aborted) stopOnOutside();
  deps.signal?.addEventListener('abort', stopOnOutside, { once: true });
  const timers: NodeJS.Timeout[] = [];
  if (task.timeout_seconds) {
    timers.push(setTimeout(() => controller.abort(new TimedOut(task.timeout_seconds!)), task.timeout_seconds * 1000));
  }
  timers.push(setInterval(() => void heartbeat(deps, task, controller), deps.config.heartbeatMs));
  const progress = progressReporter(deps, task);

  try {
    const plugin = await registry.load(task.task_type);
    const params = await loadParams(files, task);
    const valid = validateParams(plugin, params);
    logger.info(`Executing task ${task.id} | Type: ${task.task_type} | Params keys: ${pyList(Object.keys(asObject(params)))}`);
    const ctx: PluginContext = {
      taskId: task.id, jobId: task.job_id, attempt: task.attempts,
      taskDir: await files.ensureTaskDir(task.job_id),
      signal: controller.signal,
      logger: logger.child({ taskId: task.id, taskType: task.task_type }),
      progress: progress.report,
      config: deps.config,
    };
    const result = await untilAborted(Promise.resolve().then(() => plugin.execute(valid, ctx)), controller.signal);
    const json = serialiseResult(result);
    await files.writeOutput(task.job_id, json);
    await progress.settled();
    if (!(await store.complete(task.id, worker))) {
      const current = await store.find({ taskId: task.id });
      const message = `Task ${task.id} finished but is now ${current?.status ?? 'gone'}; output.json was written and the status left as it is`;
      logger.warn(message);
      return { exitCode: EXIT.ok, taskId: task.id, result: current?.status === 'cancelled' ? 'cancelled' : 'skipped', message };
    }
    logger.info(`Task ${task.id} completed successfully | Result keys: ${pyList(Object.keys(asObject(result)))}`);
    logger.info(RULE);
    logger.info('Task Execution Completed Successfully');
    logger.info(RULE);
    return { exitCode: EXIT.ok, taskId: task.id, result: 'completed' };
  } catch (err) {
    await progress.settled();
    return finishWithError(deps, task, controller.signal.aborted ? controller.signal.reason : err);
  } finally {
    timers.forEach(clearTimeout);
    deps.signal?.removeEventListener('abort', stopOnOutside);
  }
}

/** startAttempt refused: attempts used up (fail it, with the reason) or the status moved on. */
async function cannotStart(deps: RunnerDeps, found: Task): Promise<RunOutcome> {
  const { store, logger } = deps;
  const current = await store.find({ taskId: found.id });
  if (current && RUNNABLE.includes(current.status) && current.attempts >= current.max_attempts) {
    const lastWorker = current.worker ? ` (worker ${current.worker})` : '';
    const message = `Gave up after ${current.attempts} of ${current.max_attempts} attempts: the last attempt${lastWorker} did not finish`;
    await store.failRunnable(current.id, message);
    logger.error({ taskId: current.id }, `Task ${current.id} failed: ${message}`);
    return { exitCode: EXIT.failed, taskId: current.id, result: 'failed', message };
  }
  const message = `Task ${found.id} is now ${current?.status ?? 'gone'}; skipping`;
  logger.info(message);
  return { exitCode: EXIT.ok, taskId: found.id, result: 'skipped', message };
}

async function finishWithError(deps: RunnerDeps, task: Task, err: unknown): Promise<RunOutcome> {
  const { store, logger, worker } = deps;
  if (isConnectionError(err)) throw err;
  if (err instanceof Interrupted) {
    const message = `${err.message} during attempt ${task.attempts}; the task can run again`;
    await store.release(task.id, worker, message);
    logger.warn({ taskId: task.id }, `Task ${task.id} interrupted: ${message}`);
    return { exitCode: EXIT.interrupted, taskId: task.id, result: 'released', message };
  }
  if (err instanceof Cancelled) {
    logger.warn({ taskId: task.id }, `Task ${task.id} was cancelled; stopped its plugin`);
    return { exitCode: EXIT.ok, taskId: task.id, result: 'cancelled', message: err.message };
  }
  if (err instanceof LostOwnership) {
    logger.error({ taskId: task.id }, err.message);
    return { exitCode: EXIT.failed, taskId: task.id, result: 'skipped', message: err.message };
  }
  const message = errorMessage(err);
  const business = err instanceof BusinessError || err instanceof UnsupportedTaskTypeError || err instanceof InvalidParamsError || err instanceof InputError;
  await store.fail(task.id, worker, message);
  logger.error({ taskId: task.id }, business ? `Business error: ${message}` : `Task ${task.id} failed: ${message}`);
  logger.info(RULE);
  logger.info('Task Execution Failed');
  logger.info(RULE);
  return { exitCode: EXIT.failed, taskId: task.id, result: 'failed', message };
}

async function loadParams(files: TaskFiles, task: Task): Promise<unknown> {
  if (task.params !== null && task.params !== undefined) return task.params;
  const fromFile = await files.readInput(task.job_id);
  if (fromFile === undefined) {
    throw new InputError(`No params: the params column is null and ${files.inputPath(task.job_id)} does not exist`);
  }
  return fromFile;
}

async function heartbeat(deps: RunnerDeps, task: Task, controller: AbortController): Promise<void> {
  if (controller.signal.aborted) return;
  try {
    if (await deps.store.heartbeat(task.id, deps.worker)) return;
    const current = await deps.store.find({ taskId: task.id });
    if (controller.signal.aborted) return;
    if (current?.status === 'cancelled') controller.abort(new Cancelled());
    else controller.abort(new LostOwnership(`status ${current?.status ?? 'gone'}, worker ${current?.worker ?? 'none'}`));
  } catch (err) {
    // Without the connection the advisory lock is gone too: another runner may take over, so stop.
    if (isConnectionError(err)) controller.abort(err);
    else deps.logger.warn({ taskId: task.id, err: describeDbError(err) }, 'Heartbeat failed');
  }
}

/** progress(fraction, message): writes at most every progressMs, one write in flight at a time. */
function progressReporter(deps: RunnerDeps, task: Task) {
  let lastWrite = 0;
  let inFlight: Promise<void> = Promise.resolve();
  return {
    report(fraction: number, message?: string): void {
      if (typeof fraction !== 'number' || Number.isNaN(fraction)) return;
      const now = Date.now();
      if (now - lastWrite < deps.config.progressMs && fraction < 1) return;
      lastWrite = now;
      const value = Math.min(1, Math.max(0, fraction));
      const text = message === undefined ? null : String(message).slice(0, 500);
      inFlight = inFlight
        .then(() => deps.store.setProgress(task.id, deps.worker, value, text))
        .catch((err) => deps.logger.warn({ taskId: task.id, err: describeDbError(err) }, 'Progress update failed'));
    },
    settled: () => inFlight,
  };
}

function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function asObject(value: unknown): object {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {};
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  let shown: string;
  try {
    shown = JSON.stringify(err) ?? String(err);
  } catch {
    shown = String(err);
  }
  return `Plugin threw a non-Error value: ${shown.slice(0, 500)}`;
}
