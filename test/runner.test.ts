// The guide's examples and troubleshooting cases, run as real `taskpod run` processes
// against a real PostgreSQL and real task directories.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { setupTestDb, type TestDb } from './support/db.js';
import { runCli, spawnCli, toResult } from './support/cli.js';
import { runTaskPath } from './support/paths.js';
import { waitFor } from './support/wait.js';
import type { Task } from '../src/tasks/model.js';

let db: TestDb;
beforeAll(async () => { db = await setupTestDb('runner'); });
afterAll(async () => { await db?.cleanup(); });

const submitEcho = (message = 'hello', extra: Partial<Parameters<TestDb['store']['insert']>[0]> = {}) =>
  db.store.insert({ taskType: 'echo', params: { message, count: 2 }, maxAttempts: 3, ...extra });
const reload = async (task: Task) => (await db.task(task.id));
const run = (args: string[], extra: Record<string, string> = {}) => runCli(['run', ...args], db.env(extra));

describe('Example 1: execute a task', () => {
  it('finds it by task_id, runs the plugin, writes output.json and completes', async () => {
    const task = await submitEcho();
    const r = await run(['--task-id', String(task.id)]);
    expect(r.exitCode).toBe(0);
    expect(r.messages).toEqual([
      '='.repeat(60), 'Task Execution Script Started', '='.repeat(60),
      `Querying task with task_id=${task.id}...`,
      `Task found: ID=${task.id}, JobID=${task.job_id}, Type=echo, Status=pending`,
      'Starting task execution...',
      `Task ${task.id} started execution`,
      `Executing task ${task.id} | Type: echo | Params keys: ['count', 'message']`,
      `Task ${task.id} completed successfully | Result keys: ['result', 'params_seen']`,
      '='.repeat(60), 'Task Execution Completed Successfully', '='.repeat(60),
    ]);
    const done = await reload(task);
    expect(done).toMatchObject({ status: 'completed', attempts: 1, error_message: null, progress: 1 });
    expect(done.finished_at).toBeInstanceOf(Date);
    expect(done.worker).toMatch(/\/\d+$/);
    expect(JSON.parse(readFileSync(db.files.outputPath(task.job_id), 'utf8'))).toEqual({ result: 'hellohello', params_seen: ['message', 'count'] });
  });

  it('finds it by job_id', async () => {
    const task = await submitEcho('by job id');
    const r = await run(['--job-id', task.job_id]);
    expect(r.exitCode).toBe(0);
    expect(r.messages).toContain(`Querying task with job_id=${task.job_id}...`);
    expect((await reload(task)).status).toBe('completed');
  });

  it('is also installed as run-task, the guide\'s name', async () => {
    const task = await submitEcho('alias');
    const r = toResult(await execa(process.execPath, [runTaskPath, '--task-id', String(task.id)], { env: db.env(), reject: false }));
    expect(r.exitCode).toBe(0);
    expect((await reload(task)).status).toBe('completed');
  });
});

describe('Examples 2 and 3: business errors', () => {
  it('Task not found by task_id: exit 1 with the guide\'s message', async () => {
    const r = await run(['--task-id', '999999']);
    expect(r.exitCode).toBe(1);
    expect(r.logs.find((l) => l.level === 50)?.msg).toBe('Business error: Task not found: task_id=999999');
  });

  it('Task not found by job_id', async () => {
    const r = await run(['--job-id', 'f'.repeat(32)]);
    expect(r.exitCode).toBe(1);
    expect(r.messages).toContain(`Business error: Task not found: job_id=${'f'.repeat(32)}`);
  });

  it('Unsupported task type: the task fails with the reason', async () => {
    const task = await db.store.insert({ taskType: 'unknown_type', params: {}, maxAttempts: 1 });
    const r = await run(['--task-id', String(task.id)]);
    expect(r.exitCode).toBe(1);
    expect(r.messages).toContain('Business error: Unsupported task type: unknown_type');
    expect(await reload(task)).toMatchObject({ status: 'failed', error_message: 'Unsupported task type: unknown_type' });
  });
});

describe('usage errors exit 2 and touch nothing', () => {
  it.each([
    [['--task-id', '1', '--job-id', 'a'.repeat(32)], 'Provide only one of --task-id, --job-id or --next'],
    [[], 'You must provide either --task-id or --job-id'],
    [['--task-id', 'abc'], '--task-id must be a positive integer, got "abc"'],
    [['--task-id', '-5'], '--task-id must be a positive integer'],
    [['--task-id', '0'], '--task-id must be a positive integer, got "0"'],
    [['--task-id', '1.5'], '--task-id must be a positive integer'],
    [['--job-id', '../../../etc/passwd'], '--job-id must be 32 lowercase hexadecimal characters'],
    [['--job-id', `${'a'.repeat(29)}/..`], '--job-id must be 32 lowercase hexadecimal characters'],
    [['--job-id', 'A'.repeat(32)], '--job-id must be 32 lowercase hexadecimal characters'],
    [['--bogus'], "unknown option '--bogus'"],
  ])('run %j', async (args, expected) => {
    const before = await db.store.list({ limit: 1000 });
    const r = await run(args as string[]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(expected);
    expect(await db.store.list({ limit: 1000 })).toEqual(before);
  });
});

describe('task status', () => {
  it.each(['completed', 'failed', 'cancelled'] as const)('skips a %s task and leaves it untouched', async (status) => {
    const task = await submitEcho();
    await db.client.query(`UPDATE "${db.schema}".tasks SET status = $2 WHERE id = $1`, [task.id, status]);
    const before = await reload(task);
    const r = await run(['--task-id', String(task.id)]);
    expect(r.exitCode).toBe(0);
    expect(r.messages.join('\n')).toContain(`has status ${status}`);
    expect(await reload(task)).toEqual(before);
    expect(existsSync(db.files.outputPath(task.job_id))).toBe(false);
  });

  it.each(['queued', 'running'] as const)('executes a %s task', async (status) => {
    const task = await submitEcho();
    await db.client.query(`UPDATE "${db.schema}".tasks SET status = $2 WHERE id = $1`, [task.id, status]);
    const r = await run(['--task-id', String(task.id)]);
    expect(r.exitCode).toBe(0);
    expect((await reload(task)).status).toBe('completed');
  });

  it('fails a task whose attempts are used up, saying why, instead of running it again', async () => {
    const task = await submitEcho('x', { maxAttempts: 2 });
    await db.client.query(`UPDATE "${db.schema}".tasks SET status = 'running', attempts = 2, worker = 'pod-a/1' WHERE id = $1`, [task.id]);
    const r = await run(['--task-id', String(task.id)]);
    expect(r.exitCode).toBe(1);
    expect(await reload(task)).toMatchObject({
      status: 'failed', attempts: 2,
      error_message: 'Gave up after 2 of 2 attempts: the last attempt (worker pod-a/1) did not finish',
    });
  });
});

describe('params', () => {
  it('come from the params column when it is set, even if input.json exists', async () => {
    const task = await submitEcho('from db');
    await db.files.writeInput(task.job_id, JSON.stringify({ message: 'from file' }));
    expect((await run(['--task-id', String(task.id)])).exitCode).toBe(0);
    expect((await db.files.readOutput(task.job_id) as { result: string }).result).toBe('from dbfrom db');
  });

  it('come from input.json when the column is null', async () => {
    const task = await db.store.insert({ taskType: 'echo', params: null, maxAttempts: 1 });
    await db.files.writeInput(task.job_id, JSON.stringify({ message: 'file' }));
    const r = await run(['--task-id', String(task.id)]);
    expect(r.exitCode).toBe(0);
    expect(await db.files.readOutput(task.job_id)).toEqual({ result: 'file', params_seen: ['message', 'count'] });
  });

  it('from neither: the task fails naming the missing file', async () => {
    const task = await db.store.insert({ taskType: 'echo', params: null, maxAttempts: 1 });
    const r = await run(['--task-id', String(task.id)]);
    expect(r.exitCode).toBe(1);
    const failed = await reload(task);
    expect(failed.status).toBe('failed');
    expect(failed.error_message).toBe(`No params: the params column is null and ${db.files.inputPath(task.job_id)} does not exist`);
  });

  it('malformed input.json: the task fails naming the file and the JSON error', async () => {
    const task = await db.store.insert({ taskType: 'echo', params: null, maxAttempts: 1 });
    mkdirSync(db.files.taskDir(task.job_id), { recursive: true });
    writeFileSync(db.files.inputPath(task.job_id), '{"message": "unterminated');
    const r = await run(['--task-id', String(task.id)]);
    expect(r.exitCode).toBe(1);
    const failed = await reload(task);
    expect(failed.status).toBe('failed');
    expect(failed.error_message).toContain(`Invalid JSON in ${db.files.inputPath(task.job_id)}:`);
    expect(readFileSync(db.files.inputPath(task.job_id), 'utf8')).toBe('{"message": "unterminated');
  });

  it('that fail the plugin\'s schema: the message names the field', async () => {
    const task = await db.store.insert({ taskType: 'echo', params: { message: 5, extra: true }, maxAttempts: 1 });
    const r = await run(['--task-id', String(task.id)]);
    expect(r.exitCode).toBe(1);
    const { error_message } = await reload(task);
    expect(error_message).toMatch(/^Invalid params for echo: /);
    expect(error_message).toContain('message: Invalid input: expected string, received number');
    expect(error_message).toContain('extra');
  });

  it('values never appear in the logs', async () => {
    const task = await submitEcho('SECRET-VALUE-8731');
    const r = await run(['--task-id', String(task.id)]);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).not.toContain('SECRET-VALUE-8731');
    expect(r.stderr).toContain("Params keys: ['count', 'message']");
  });
});

describe('plugin failures are recorded with their reason', () => {
  it.each([
    ['throw_error', 'a proper error'],
    ['throw_string', 'Plugin threw a non-Error value: "plain string failure"'],
    ['throw_object', 'Plugin threw a non-Error value: {"code":42,"why":"object failure"}'],
    ['bigint', 'Result is not JSON-serialisable: Do not know how to serialize a BigInt'],
    ['circular', 'Result is not JSON-serialisable: Converting circular structure to JSON'],
    ['function', 'Result is not JSON-serialisable: a function has no JSON form'],
  ])('%s', async (kind, expected) => {
    const task = await db.store.insert({ taskType: 'weird', params: { kind }, maxAttempts: 1 });
    const r = await run(['--task-id', String(task.id)]);
    expect(r.exitCode).toBe(1);
    const failed = await reload(task);
    expect(failed.status).toBe('failed');
    expect(failed.error_message).toContain(expected);
    expect(failed.finished_at).toBeInstanceOf(Date);
    expect(existsSync(db.files.outputPath(task.job_id))).toBe(false);
    expect(r.messages).toContain('Task Execution Failed');
  });
});

describe('run --next', () => {
  it('takes the highest-priority oldest pending task whose run_after has passed', async () => {
    const schemaEnv = { TASKPOD_SCHEMA: db.schema };
    await db.cancelOpenTasks();
    const later = await submitEcho('later', { runAfter: new Date(Date.now() + 3_600_000), priority: 100 });
    const low = await submitEcho('low', { priority: 0 });
    const high = await submitEcho('high', { priority: 5 });
    const r = await run(['--next'], schemaEnv);
    expect(r.exitCode).toBe(0);
    expect((await reload(high)).status).toBe('completed');
    expect((await reload(low)).status).toBe('pending');
    expect((await reload(later)).status).toBe('pending');
    expect((await run(['--next'])).exitCode).toBe(0);
    expect((await reload(low)).status).toBe('completed');
    const idle = await run(['--next']);
    expect(idle.exitCode).toBe(0);
    expect(idle.messages).toContain('No runnable pending task');
  });
});

describe('time limits, cancellation, heartbeat and progress', () => {
  it('timeout_seconds aborts the plugin and fails the task with the reason', async () => {
    const task = await db.store.insert({ taskType: 'sleepy', params: { ms: 60_000 }, maxAttempts: 1, timeoutSeconds: 1 });
    const r = await run(['--task-id', String(task.id)]);
    expect(r.exitCode).toBe(1);
    expect(await reload(task)).toMatchObject({ status: 'failed', error_message: 'Timed out after 1 seconds (timeout_seconds)' });
    expect(readFileSync(path.join(db.files.taskDir(task.job_id), 'aborted'), 'utf8')).toContain('Timed out');
  });

  it('a task cancelled while running stops its plugin and stays cancelled', async () => {
    const task = await db.store.insert({ taskType: 'sleepy', params: { ms: 60_000 }, maxAttempts: 1 });
    const child = spawnCli(['run', '--task-id', String(task.id)], db.env({ TASKPOD_HEARTBEAT_MS: '50' }));
    await waitFor(() => existsSync(path.join(db.files.taskDir(task.job_id), 'started')));
    const cancel = await runCli(['cancel', String(task.id)], db.env());
    expect(cancel.exitCode).toBe(0);
    const r = toResult(await child);
    expect(r.exitCode).toBe(0);
    expect(r.messages).toContain(`Task ${task.id} was cancelled; stopped its plugin`);
    expect((await reload(task)).status).toBe('cancelled');
    expect(existsSync(path.join(db.files.taskDir(task.job_id), 'aborted'))).toBe(true);
  });

  it('keeps heartbeat_at fresh and records progress', async () => {
    const task = await db.store.insert({ taskType: 'sleepy', params: { ms: 400, progress_steps: 3 }, maxAttempts: 1 });
    const r = await run(['--task-id', String(task.id)], { TASKPOD_HEARTBEAT_MS: '50' });
    expect(r.exitCode).toBe(0);
    const done = await reload(task);
    expect(done.heartbeat_at!.getTime()).toBeGreaterThan(done.started_at!.getTime());
    expect(done).toMatchObject({ progress: 1, progress_message: 'step 3' });
  });
});
