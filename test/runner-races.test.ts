// Exactly one runner executes a task; killed runners leave tasks that the next one takes over;
// SIGTERM stops the plugin promptly and leaves the task runnable; output.json is atomic.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { setupTestDb, type TestDb } from './support/db.js';
import { runCli, spawnCli, toResult } from './support/cli.js';
import { waitFor } from './support/wait.js';
import { writeFileAtomic } from '../src/storage.js';
import type { Task } from '../src/tasks/model.js';

let db: TestDb;
beforeAll(async () => { db = await setupTestDb('races'); });
afterAll(async () => { await db?.cleanup(); });

const reload = async (task: Task) => (await db.task(task.id));
const runsLog = (task: Task) => path.join(db.files.taskDir(task.job_id), 'runs.log');
const started = (task: Task) => () => existsSync(path.join(db.files.taskDir(task.job_id), 'started'));

describe('exactly one runner at a time', () => {
  it('8 runners started at once on one task execute it exactly once', async () => {
    const task = await db.store.insert({ taskType: 'sleepy', params: { ms: 300 }, maxAttempts: 3 });
    const results = await Promise.all(Array.from({ length: 8 }, () => spawnCli(['run', '--task-id', String(task.id)], db.env())));
    const outcomes = results.map((r) => toResult(r));
    expect(outcomes.map((o) => o.exitCode)).toEqual(Array(8).fill(0));
    expect(readFileSync(runsLog(task), 'utf8').trim().split('\n')).toHaveLength(1);
    expect(await reload(task)).toMatchObject({ status: 'completed', attempts: 1 });
    const executed = outcomes.filter((o) => o.messages.includes(`Task ${task.id} started execution`));
    expect(executed).toHaveLength(1);
  });

  it('a runner killed with SIGKILL leaves a task the next runner takes over', async () => {
    const task = await db.store.insert({ taskType: 'sleepy', params: { ms: 60_000 }, maxAttempts: 3 });
    const first = spawnCli(['run', '--task-id', String(task.id)], db.env());
    await waitFor(started(task));
    first.kill('SIGKILL');
    await first.catch(() => undefined);
    const orphan = await reload(task);
    expect(orphan).toMatchObject({ status: 'running', attempts: 1 });

    // Same task, now short: the second runner must not wait for the dead one.
    await db.client.query(`UPDATE "${db.schema}".tasks SET params = '{"ms": 10}' WHERE id = $1`, [task.id]);
    const second = await runCli(['run', '--task-id', String(task.id)], db.env());
    expect(second.exitCode).toBe(0);
    const done = await reload(task);
    expect(done).toMatchObject({ status: 'completed', attempts: 2 });
    expect(done.worker).not.toBe(orphan.worker);
    expect(readFileSync(runsLog(task), 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('a runner that finds another one executing exits 0 without touching the task', async () => {
    const task = await db.store.insert({ taskType: 'sleepy', params: { ms: 60_000 }, maxAttempts: 3 });
    const first = spawnCli(['run', '--task-id', String(task.id)], db.env());
    await waitFor(started(task));
    const before = await reload(task);
    const second = await runCli(['run', '--task-id', String(task.id)], db.env());
    expect(second.exitCode).toBe(0);
    expect(second.messages).toContain(`Task ${task.id} is being executed by another runner; exiting without changes`);
    expect(await reload(task)).toEqual(before);
    first.kill('SIGKILL');
    await first.catch(() => undefined);
  });
});

describe('SIGTERM', () => {
  it.each([false, true])('stops the plugin within a second and leaves the task runnable (plugin ignores abort: %s)', async (ignoreAbort) => {
    const task = await db.store.insert({ taskType: 'sleepy', params: { ms: 60_000, ignore_abort: ignoreAbort }, maxAttempts: 3 });
    const child = spawnCli(['run', '--task-id', String(task.id)], db.env());
    await waitFor(started(task));
    const sentAt = Date.now();
    child.kill('SIGTERM');
    const r = toResult(await child);
    const elapsed = Date.now() - sentAt;
    expect(r.exitCode).toBe(143);
    expect(elapsed).toBeLessThan(1000);
    expect(existsSync(path.join(db.files.taskDir(task.job_id), 'aborted'))).toBe(!ignoreAbort);
    const released = await reload(task);
    expect(released).toMatchObject({ status: 'pending', attempts: 1, worker: null });
    expect(released.error_message).toBe('Interrupted by SIGTERM during attempt 1; the task can run again');

    await db.client.query(`UPDATE "${db.schema}".tasks SET params = '{"ms": 10}' WHERE id = $1`, [task.id]);
    expect((await runCli(['run', '--task-id', String(task.id)], db.env())).exitCode).toBe(0);
    expect(await reload(task)).toMatchObject({ status: 'completed', attempts: 2, error_message: null });
  });

  it('returns a dispatched task to queued, for the Job\'s next pod', async () => {
    const task = await db.store.insert({ taskType: 'sleepy', params: { ms: 60_000 }, maxAttempts: 3 });
    await db.client.query(`UPDATE "${db.schema}".tasks SET status = 'queued', k8s_job_name = 'taskpod-1-1' WHERE id = $1`, [task.id]);
    const child = spawnCli(['run', '--task-id', String(task.id)], db.env());
    await waitFor(started(task));
    child.kill('SIGTERM');
    expect((await child).exitCode).toBe(143);
    expect((await reload(task)).status).toBe('queued');
  });
});

describe('the database', () => {
  it('unreachable: exit 75, a clear message, and no secret in it', async () => {
    const r = await runCli(['run', '--task-id', '1'], {
      ...db.env(), DATABASE_URL: 'postgres://taskpod:hunter2-secret@127.0.0.1:1/nowhere', TASKPOD_DB_CONNECT_TIMEOUT_MS: '2000',
    });
    expect(r.exitCode).toBe(75);
    expect(r.messages.join('\n')).toMatch(/Database connection failed: .*ECONNREFUSED.*nothing was recorded, the task can run again/);
    expect(r.stderr).not.toContain('hunter2-secret');
  });

  it('a schema that was never migrated: says to run taskpod migrate', async () => {
    const r = await runCli(['run', '--task-id', '1'], { ...db.env(), TASKPOD_SCHEMA: 'never_migrated_here' });
    if (db.env().DATABASE_URL) {
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain('run `taskpod migrate` first');
    } else {
      // The embedded default sets itself up on first use.
      expect(r.exitCode).toBe(1);
      expect(r.messages).toContain('Business error: Task not found: task_id=1');
      await db.client.query('DROP SCHEMA never_migrated_here CASCADE');
    }
  });
});

describe('configuration', () => {
  it.each([
    [{ TASKPOD_LOG_LEVEL: 'verbose' }, 'logLevel (env TASKPOD_LOG_LEVEL): must be one of the possible values'],
    [{ TASKPOD_HEARTBEAT_MS: 'soon' }, 'heartbeatMs (env TASKPOD_HEARTBEAT_MS): must be a positive integer'],
    [{ TASKPOD_SCHEMA: 'Robert"); DROP TABLE' }, 'schema (env TASKPOD_SCHEMA): must be a lowercase SQL identifier'],
    [{ TASKPOD_EMBEDDED_PORT: '70000' }, 'embeddedPort (env TASKPOD_EMBEDDED_PORT): ports must be within range 0 - 65535'],
  ])('a bad value %j stops start-up naming the key and the env var', async (bad, expected) => {
    const r = await runCli(['run', '--task-id', '1'], db.env(bad as Record<string, string>));
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`Invalid configuration: ${expected}`);
  });
});

describe('output.json', () => {
  it('is never seen half-written by a concurrent reader', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'taskpod-atomic-'));
    const file = path.join(dir, 'output.json');
    try {
      await writeFileAtomic(file, JSON.stringify({ n: 0 }));
      // A separate process reads as fast as it can while this one rewrites the file.
      const reader = execa(process.execPath, ['-e', `
        const fs = require('fs'); let reads = 0, bad = 0;
        const end = Date.now() + 1500;
        while (Date.now() < end) {
          try { JSON.parse(fs.readFileSync(${JSON.stringify(file)}, 'utf8')); reads++; }
          catch (e) { bad++; console.error(e.message); }
        }
        console.log(JSON.stringify({ reads, bad }));`]);
      let writes = 0;
      const big = 'x'.repeat(256 * 1024);
      while (reader.exitCode === null && writes < 2000) {
        await writeFileAtomic(file, JSON.stringify({ n: writes, pad: big.slice(0, (writes * 7919) % big.length) }));
        writes++;
      }
      const { stdout } = await reader;
      const { reads, bad } = JSON.parse(stdout);
      expect(writes).toBeGreaterThan(10);
      expect(reads).toBeGreaterThan(10);
      expect(bad).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('losing the database mid-run', () => {
  it('stops the plugin, exits 75, and the next runner takes the task over', async () => {
    const task = await db.store.insert({ taskType: 'sleepy', params: { ms: 60_000 }, maxAttempts: 3 });
    const child = spawnCli(['run', '--task-id', String(task.id)], db.env({ TASKPOD_HEARTBEAT_MS: '50' }));
    await waitFor(started(task));
    const { rowCount } = await db.client.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE $1`, [`taskpod run %/${child.pid}`]);
    expect(rowCount).toBe(1);
    const r = toResult(await child);
    expect(r.exitCode).toBe(75);
    expect(existsSync(path.join(db.files.taskDir(task.job_id), 'aborted'))).toBe(true);
    expect(await reload(task)).toMatchObject({ status: 'running', attempts: 1 });

    await db.client.query(`UPDATE "${db.schema}".tasks SET params = '{"ms": 10}' WHERE id = $1`, [task.id]);
    expect((await runCli(['run', '--task-id', String(task.id)], db.env())).exitCode).toBe(0);
    expect(await reload(task)).toMatchObject({ status: 'completed', attempts: 2 });
  });
});
