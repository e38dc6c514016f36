// submit, show, list, cancel, retry: the task commands operators script against.
import { readFile, rm } from 'node:fs/promises';
import { openContext, type Context } from '../context.js';
import { validateParams } from '../plugins.js';
import { BusinessError, FINAL, STATUSES, TaskNotFoundError, UsageError, parseTaskRef, type Status, type Task } from '../tasks/model.js';
import { InputError } from '../storage.js';
import { checkResources } from '../config.js';

export interface SubmitFlags {
  params?: string; paramsFile?: string; inputFile?: string; attach?: string[];
  maxAttempts?: string; timeout?: string; priority?: string; resources?: string; json?: boolean;
  dedupeKey?: string; wait?: boolean; waitTimeout?: string;
}

function intFlag(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value) || Number(value) < min || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`${flag} must be an integer${min > 0 ? ` >= ${min}` : ''}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(`Invalid JSON in ${source}: ${(err as Error).message}`);
  }
}

async function readJsonFile(file: string, flag: string): Promise<{ text: string; value: unknown }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new InputError(`Cannot read ${flag} ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  return { text, value: parseJson(text, file) };
}

/** --resources '{"limits":{"memory":"2Gi"}}': the task's Job resources, over the plugin's and the type's. */
function resourcesFlag(text: string): Task['resources'] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--resources must be JSON: ${(err as Error).message}`);
  }
  try {
    return checkResources(value, '--resources');
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Inserts the task and writes its files in one transaction, so no runner sees a task without its input. */
export async function submitCommand(taskType: string, flags: SubmitFlags, out = process.stdout): Promise<number> {
  const sources = [flags.params, flags.paramsFile, flags.inputFile].filter((v) => v !== undefined);
  if (sources.length > 1) throw new UsageError('Use only one of --params, --params-file and --input-file');
  const maxAttempts = intFlag(flags.maxAttempts, '--max-attempts', 1);
  const timeoutSeconds = intFlag(flags.timeout, '--timeout', 1);
  const priority = intFlag(flags.priority, '--priority', Number.MIN_SAFE_INTEGER);
  const resources = flags.resources === undefined ? undefined : resourcesFlag(flags.resources);
  const dedupeKey = flags.dedupeKey === undefined ? undefined : dedupeKeyFlag(flags.dedupeKey);
  if (flags.waitTimeout !== undefined && !flags.wait) throw new UsageError('--wait-timeout needs --wait');
  const waitTimeoutSeconds = intFlag(flags.waitTimeout, '--wait-timeout', 1);

  let params: unknown = null;
  let inputText: string | undefined;
  if (flags.params !== undefined) params = parseJson(flags.params, '--params');
  if (flags.paramsFile !== undefined) params = (await readJsonFile(flags.paramsFile, '--params-file')).value;
  if (flags.inputFile !== undefined) {
    const input = await readJsonFile(flags.inputFile, '--input-file');
    inputText = input.text;
    params = input.value;
  }

  const ctx = await openContext();
  try {
    const plugin = await ctx.registry.load(taskType);
    validateParams(plugin, params);
    const { task, created } = await ctx.store.transaction(async () => {
      const result = await ctx.store.insertOnce({
        taskType, params: inputText === undefined ? params : null,
        maxAttempts: maxAttempts ?? ctx.config.defaultMaxAttempts, priority, timeoutSeconds, resources, dedupeKey,
      });
      if (!result.created) {
        if (result.task.task_type !== taskType) {
          throw new BusinessError(`Dedupe key ${JSON.stringify(dedupeKey)} already names task ${result.task.id} of type ${result.task.task_type}, not ${taskType}`);
        }
        return result;
      }
      try {
        if (inputText !== undefined) await ctx.files.writeInput(result.task.job_id, inputText);
        for (const file of flags.attach ?? []) await ctx.files.attach(result.task.job_id, file).catch((err) => {
          throw new InputError(`Cannot attach ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
        });
      } catch (err) {
        await rm(ctx.files.taskDir(result.task.job_id), { recursive: true, force: true });
        throw err;
      }
      return result;
    });
    ctx.logger.debug({ taskId: task.id, taskType, created }, created ? 'Task submitted' : 'Task already submitted with this dedupe key');
    const submitted = { task_id: task.id, job_id: task.job_id, created };
    if (!flags.wait) {
      out.write(flags.json ? JSON.stringify(submitted) + '\n' : describeSubmitted(task, created) + '\n');
      return 0;
    }
    if (!flags.json) out.write(describeSubmitted(task, created) + '\n');
    const finished = await waitUntilFinished(ctx, task.id, waitTimeoutSeconds);
    if (flags.json) {
      out.write(JSON.stringify({ ...submitted, status: finished.status, error_message: finished.error_message }) + '\n');
    } else {
      out.write(`Task ${task.id} ${finished.status}${finished.error_message ? `: ${finished.error_message}` : ''}\n`);
    }
    return finished.status === 'completed' ? 0 : 1;
  } finally {
    await ctx.close();
  }
}

function describeSubmitted(task: Task, created: boolean): string {
  return created
    ? `Submitted task ${task.id} (job_id ${task.job_id}, type ${task.task_type})`
    : `Task ${task.id} already submitted with dedupe key ${JSON.stringify(task.dedupe_key)} (job_id ${task.job_id}, type ${task.task_type}, ${task.status})`;
}

/** --dedupe-key: 1 to 255 characters, no control characters (the column's own check, said up front). */
function dedupeKeyFlag(key: string): string {
  if (key.length < 1 || key.length > 255) throw new UsageError(`--dedupe-key must be 1 to 255 characters, got ${key.length}`);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(key)) throw new UsageError('--dedupe-key must not contain control characters');
  return key;
}

/**
 * Waits for the task to reach completed, failed or cancelled: woken by the tasks table's
 * NOTIFY on each status change, with a slow poll in case a notification is missed.
 * Past the timeout, throws with the status the task is still in.
 */
async function waitUntilFinished(ctx: Context, taskId: number, timeoutSeconds: number | undefined): Promise<Task> {
  const deadline = timeoutSeconds === undefined ? Infinity : Date.now() + timeoutSeconds * 1000;
  let wake: () => void = () => undefined;
  const onNotification = () => wake();
  ctx.client.on('notification', onNotification);
  try {
    await ctx.store.listen();
    for (;;) {
      const task = await ctx.store.find({ taskId });
      if (!task) throw new BusinessError(`Task ${taskId} disappeared while waiting for it`);
      if (FINAL.includes(task.status)) return task;
      const left = deadline - Date.now();
      if (left <= 0) throw new WaitTimeoutError(`Task ${taskId} is still ${task.status} after ${timeoutSeconds} s (--wait-timeout)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(WAIT_POLL_MS, left));
        wake = () => { clearTimeout(timer); resolve(); };
      });
    }
  } finally {
    ctx.client.off('notification', onNotification);
  }
}

const WAIT_POLL_MS = 5_000;

export class WaitTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WaitTimeoutError';
  }
}

async function findOrThrow(ctx: Context, idOrJobId: string): Promise<Task> {
  const ref = parseTaskRef(idOrJobId);
  const task = await ctx.store.find(ref);
  if (!task) throw new TaskNotFoundError(ref);
  return task;
}

export async function showCommand(idOrJobId: string, flags: { json?: boolean }, out = process.stdout): Promise<number> {
  const ctx = await openContext();
  try {
    const task = await findOrThrow(ctx, idOrJobId);
    const output = await ctx.files.readOutput(task.job_id).catch((err: Error) => ({ unreadable: err.message }));
    if (flags.json) {
      out.write(JSON.stringify({ ...task, output: output ?? null }, null, 2) + '\n');
    } else {
      const width = Math.max(...Object.keys(task).map((k) => k.length));
      for (const [key, value] of Object.entries(task)) {
        if (value === null) continue;
        out.write(`${key.padEnd(width)}  ${formatValue(value)}\n`);
      }
      if (output !== undefined) out.write(`${'output'.padEnd(width)}  ${JSON.stringify(output)}\n`);
    }
    return 0;
  } finally {
    await ctx.close();
  }
}

function formatValue(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export async function listCommand(flags: { status?: string; type?: string; limit?: string; json?: boolean }, out = process.stdout): Promise<number> {
  if (flags.status !== undefined && !STATUSES.includes(flags.status as Status)) {
    throw new UsageError(`--status must be one of ${STATUSES.join(', ')}, got ${JSON.stringify(flags.status)}`);
  }
  const limit = intFlag(flags.limit, '--limit', 1) ?? 100;
  const ctx = await openContext();
  try {
    const tasks = await ctx.store.list({ status: flags.status as Status | undefined, taskType: flags.type, limit });
    if (flags.json) {
      out.write(JSON.stringify(tasks, null, 2) + '\n');
      return 0;
    }
    const rows = [['ID', 'JOB_ID', 'TYPE', 'STATUS', 'ATTEMPTS', 'CREATED', 'ERROR']];
    for (const t of tasks) {
      rows.push([String(t.id), t.job_id, t.task_type, t.status, `${t.attempts}/${t.max_attempts}`,
        t.created_at.toISOString(), (t.error_message ?? '').split('\n')[0].slice(0, 60)]);
    }
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    for (const row of rows) out.write(row.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd() + '\n');
    return 0;
  } finally {
    await ctx.close();
  }
}

export async function cancelCommand(idOrJobId: string, out = process.stdout): Promise<number> {
  return transition(idOrJobId, 'cancel', out);
}

export async function retryCommand(idOrJobId: string, out = process.stdout): Promise<number> {
  return transition(idOrJobId, 'retry', out);
}

async function transition(idOrJobId: string, action: 'cancel' | 'retry', out: NodeJS.WritableStream): Promise<number> {
  const ctx = await openContext();
  try {
    const task = await findOrThrow(ctx, idOrJobId);
    const changed = action === 'cancel' ? await ctx.store.cancel(task.id) : await ctx.store.retry(task.id);
    if (!changed) {
      const current = (await ctx.store.find({ taskId: task.id }))?.status ?? 'gone';
      const allowed = action === 'cancel' ? 'pending, queued or running' : 'failed or cancelled';
      throw new BusinessError(`Cannot ${action} task ${task.id}: it is ${current}; only ${allowed} tasks can be ${action === 'cancel' ? 'cancelled' : 'retried'}`);
    }
    out.write(`Task ${changed.id} is now ${changed.status}\n`);
    return 0;
  } finally {
    await ctx.close();
  }
}
