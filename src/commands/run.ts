// `taskpod run` / `run-task`: wires signals and the database connection to the runner.
import { loadConfig } from '../config.js';
import { openContext, loadLogger, workerName } from '../context.js';
import { DatabaseUnavailableError, describeDbError } from '../db/pool.js';
import { EXIT, Interrupted, runTask, type RunSelector } from '../runner.js';
import { UsageError, parseJobId, parseTaskId } from '../tasks/model.js';

export interface RunFlags { taskId?: string; jobId?: string; next?: boolean }

export function selectorFromFlags(flags: RunFlags): RunSelector {
  const given = [flags.taskId !== undefined, flags.jobId !== undefined, !!flags.next].filter(Boolean).length;
  if (given !== 1) {
    throw new UsageError(given === 0
      ? 'You must provide either --task-id or --job-id (or --next)'
      : 'Provide only one of --task-id, --job-id or --next, not several');
  }
  if (flags.taskId !== undefined) return { taskId: parseTaskId(flags.taskId) };
  if (flags.jobId !== undefined) return { jobId: parseJobId(flags.jobId) };
  return { next: true };
}

export async function runCommand(flags: RunFlags): Promise<number> {
  const selector = selectorFromFlags(flags);
  const config = loadConfig();
  const logger = loadLogger(config);
  const stop = new AbortController();
  let signals = 0;
  const onSignal = (name: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) process.exit(EXIT.interrupted);
    logger.warn(`Received ${name}: stopping the plugin and leaving the task runnable`);
    stop.abort(new Interrupted(name));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  let ctx;
  try {
    ctx = await openContext(config, logger, `taskpod run ${workerName(config)}`);
  } catch (err) {
    if (err instanceof DatabaseUnavailableError) {
      logger.error(`${err.message}; nothing was recorded, the task can run again`);
      return EXIT.tempfail;
    }
    throw err;
  }
  ctx.client.on('error', (err) => stop.abort(new DatabaseUnavailableError(`Database connection lost: ${describeDbError(err)}`)));
  try {
    const outcome = await runTask({
      store: ctx.store, files: ctx.files, registry: ctx.registry, logger,
      worker: workerName(config), config,
      signal: stop.signal,
    }, selector);
    return outcome.exitCode;
  } finally {
    await ctx.close();
  }
}
