// `taskpod dispatch --executor local` end to end: real dispatcher and runner processes, the real
// database, real signals. Polling is pushed far out so that only NOTIFY can wake the dispatcher.
import os from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { oneAfterAnother, setupTestDb, type TestDb } from '../support/db.js';
import { startDispatcher, type RunningDispatcher } from '../support/dispatcher.js';
import { runCli } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import type { Task } from '../../src/tasks/model.js';

let db: TestDb;
const running: RunningDispatcher[] = [];
beforeAll(async () => { db = await setupTestDb('local_dispatch'); });
afterEach(async () => {
  await Promise.all(running.splice(0).map((d) => d.stop('SIGKILL')));
  // Runners left by a killed dispatcher, and tasks, must not leak into the next test.
  await db.cancelOpenTasks();
});
afterAll(async () => { await db?.cleanup(); });

const env = (extra: Record<string, string> = {}) => db.env({
  TASKPOD_EXECUTOR: 'local',
  TASKPOD_POLL_MS: '600000',
  TASKPOD_RECONCILE_MS: '300',
  TASKPOD_HEARTBEAT_MS: '200',
  TASKPOD_STALE_SECONDS: '2',
  TASKPOD_RETRY_BASE_SECONDS: '0',
  ...extra,
});

async function dispatcher(extra: Record<string, string> = {}): Promise<RunningDispatcher> {
  const d = await startDispatcher(env(extra));
  running.push(d);
  return d;
}

const submit = (type: string, params: unknown, maxAttempts = 3) => db.store.insert({ taskType: type, params, maxAttempts });
const task = (id: number) => db.task(id);
const until = (id: number, check: (t: Task) => boolean, what: string, ms = 20_000) => db.waitForTask(id, check, what, ms);

describe('dispatch --executor local', () => {
  it('launches a task on NOTIFY, the runner completes it, and the status server reports it', async () => {
    const d = await dispatcher();
    const t = await submit('echo', { message: 'hi' });
    await until(t.id, (x) => x.status === 'completed', 'completed');
    const done = await task(t.id);
    expect(done).toMatchObject({ launches: 1, attempts: 1, k8s_job_name: `taskpod-${t.id}-1` });
    // The runner logs its last lines after the task is completed: wait for it to exit.
    await waitFor(() => d.messages().includes(`Runner taskpod-${t.id}-1 exited`), 10_000, 'runner exited');
    expect(JSON.parse(readFileSync(db.files.outputPath(t.job_id), 'utf8'))).toMatchObject({ result: 'hi' });
    const runnerLog = readFileSync(path.join(db.files.taskDir(t.job_id), 'runner.log'), 'utf8');
    expect(runnerLog).toContain(`taskpod-${t.id}-1: taskpod run --task-id ${t.id}`);
    expect(runnerLog).toContain('Task Execution Completed Successfully');

    expect(await d.get('/healthz')).toMatchObject({ status: 200 });
    const ready = await d.get('/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toMatchObject({ ok: true, database: true, executor: true });
    const metrics = (await d.get('/metrics')).body;
    expect(metrics).toContain('taskpod_launches_total{executor="local",task_type="echo",result="created"} 1');
    expect(metrics).toMatch(/taskpod_tasks\{status="completed",task_type="echo"\} 1/);
    expect(metrics).toMatch(/taskpod_dispatch_latency_seconds_count 1/);
    expect((await d.get('/nope')).status).toBe(404);
  });

  it('a task the runner fails keeps the runner\'s message and gets the log tail', async () => {
    await dispatcher();
    const t = await submit('echo', { wrong: true });
    await until(t.id, (x) => x.status === 'failed' && x.log_tail !== null, 'failed with a log tail');
    const failed = await task(t.id);
    expect(failed.error_message).toMatch(/^Invalid params for echo: message/);
    expect(failed.log_tail).toContain('Task Execution Failed');
    expect(failed.attempts).toBe(1);
  });

  it('a runner killed with SIGKILL is an infrastructure failure: retried, then given up with the reason', async () => {
    await dispatcher();
    const t = await submit('sleepy', { ms: 60_000 }, 2);
    const dir = db.files.taskDir(t.job_id);
    for (const attempt of [1, 2]) {
      await waitFor(() => existsSync(path.join(dir, 'started')) && readFileSync(path.join(dir, 'runs.log'), 'utf8').includes(`attempt=${attempt}`), 20_000, `attempt ${attempt} started`);
      process.kill(Number(readFileSync(path.join(dir, 'started'), 'utf8')), 'SIGKILL');
    }
    await until(t.id, (x) => x.status === 'failed', 'failed');
    const failed = await task(t.id);
    expect(failed.error_message).toBe('Gave up after 2 of 2 attempts: Runner killed by SIGKILL (exit 137)');
    expect(failed).toMatchObject({ launches: 2, attempts: 2, k8s_job_name: `taskpod-${t.id}-2` });
  });

  it('cancelling a running task stops its runner, whose plugin sees the AbortSignal', async () => {
    const d = await dispatcher();
    const t = await submit('sleepy', { ms: 60_000 });
    const dir = db.files.taskDir(t.job_id);
    await waitFor(() => existsSync(path.join(dir, 'started')), 20_000, 'started');
    expect((await runCli(['cancel', String(t.id)], env())).exitCode).toBe(0);
    await waitFor(() => existsSync(path.join(dir, 'aborted')), 10_000, 'plugin aborted');
    await waitFor(() => d.messages().includes(`Runner taskpod-${t.id}-1 exited`), 10_000, 'runner exited');
    expect(await task(t.id)).toMatchObject({ status: 'cancelled', error_message: 'Cancelled by request', launches: 1 });
  });

  it('never has more tasks queued or running than TASKPOD_CONCURRENCY, and finishes them all', async () => {
    await dispatcher({ TASKPOD_CONCURRENCY: '2' });
    const tasks = await oneAfterAnother(6, () => submit('sleepy', { ms: 300 }));
    let most = 0;
    await waitFor(async () => {
      const { rows } = await db.client.query(
        `SELECT count(*) FILTER (WHERE status IN ('queued', 'running'))::int AS active,
                count(*) FILTER (WHERE status = 'completed')::int AS done
           FROM "${db.schema}".tasks WHERE id = ANY($1)`, [tasks.map((x) => x.id)]);
      most = Math.max(most, rows[0].active);
      return rows[0].done === tasks.length;
    }, 30_000, 'all completed');
    expect(most).toBeLessThanOrEqual(2);
    expect(most).toBeGreaterThan(0);
  });

  it('SIGTERM drains: runners leave their tasks runnable, exit 0, and a new dispatcher finishes them', async () => {
    const first = await dispatcher();
    const t = await submit('sleepy', { ms: 1500 });
    const dir = db.files.taskDir(t.job_id);
    await waitFor(() => existsSync(path.join(dir, 'started')), 20_000, 'started');
    expect(await first.stop('SIGTERM')).toBe(0);
    expect(first.messages()).toContain('Dispatcher stopped');
    expect(await task(t.id)).toMatchObject({ status: 'queued', k8s_job_name: `taskpod-${t.id}-1` });
    // The new dispatcher sees a queued task with no run of its own: it relaunches it (after the
    // start deadline, since a local executor cannot see other replicas' runs).
    await dispatcher({ TASKPOD_START_DEADLINE_SECONDS: '1' });
    await until(t.id, (x) => x.status === 'completed', 'completed after restart');
    expect(readFileSync(path.join(dir, 'runs.log'), 'utf8').trim().split('\n')).toHaveLength(2);
  });

  /** A task some runner took an hour ago and then vanished with; created in one transaction, so no dispatcher ever sees it pending. */
  async function ghostRunning(params: unknown, maxAttempts: number, worker: string): Promise<Task> {
    await db.client.query('BEGIN');
    try {
      const t = await submit('echo', params, maxAttempts);
      await db.client.query(
        `UPDATE "${db.schema}".tasks SET status = 'running', attempts = 1, worker = $2, heartbeat_at = now() - interval '1 hour'
          WHERE id = $1`, [t.id, worker]);
      await db.client.query('COMMIT');
      return t;
    } catch (err) {
      await db.client.query('ROLLBACK');
      throw err;
    }
  }

  it('a task left running by a vanished runner (stale heartbeat, lock free) is retried or given up', async () => {
    await dispatcher();
    const t = await ghostRunning({ message: 'x' }, 1, 'ghost/1');
    await until(t.id, (x) => x.status === 'failed', 'failed');
    expect((await task(t.id)).error_message).toMatch(/^Gave up after 1 of 1 attempts: Runner vanished: worker ghost\/1 sent no heartbeat for 36\d\d s and holds no lock$/);

    const again = await ghostRunning({ message: 'y' }, 2, 'ghost/2');
    await until(again.id, (x) => x.status === 'completed', 'retried and completed');
    expect(await task(again.id)).toMatchObject({ attempts: 2, launches: 1 });
  });

  it('survives losing its database connections: LISTEN comes back and launching goes on', async () => {
    const d = await dispatcher();
    // This dispatcher's connections only (other test files run dispatchers on the same server).
    const mine = `${os.hostname()}/${d.pid}`;
    const listening = async () => (await db.client.query(
      `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`, [`taskpod dispatch (listen) ${mine}`])).rowCount === 1;
    await waitFor(listening, 10_000, 'LISTEN up');
    // Every connection of the dispatcher: LISTEN, idle pool ones, and any checked out mid-query.
    const { rowCount } = await db.client.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'taskpod dispatch%' AND application_name LIKE $1`, [`% ${mine}`]);
    expect(rowCount).toBeGreaterThanOrEqual(1);
    await waitFor(() => d.messages().includes('LISTEN connection lost; polling until it is back'), 10_000, 'loss noticed')
      .catch((err: Error) => { throw new Error(`${err.message}; the dispatcher's log:\n${d.stderr()}`); });
    await waitFor(listening, 10_000, 'LISTEN again');
    const t = await submit('echo', { message: 'after the outage' });
    await until(t.id, (x) => x.status === 'completed', 'completed');
    expect(d.proc.exitCode).toBeNull();
    expect(d.stderr()).not.toContain("Unhandled 'error' event");
  });

  it('two dispatchers at once launch every task exactly once', async () => {
    await Promise.all([dispatcher(), dispatcher()]);
    const tasks = await oneAfterAnother(30, (i) => submit('echo', { message: `m${i}` }));
    await waitFor(async () => {
      const { rows } = await db.client.query(`SELECT count(*)::int AS n FROM "${db.schema}".tasks WHERE id = ANY($1) AND status = 'completed'`, [tasks.map((x) => x.id)]);
      return rows[0].n === tasks.length;
    }, 30_000, 'all completed');
    const { rows } = await db.client.query(`SELECT launches, attempts FROM "${db.schema}".tasks WHERE id = ANY($1)`, [tasks.map((x) => x.id)]);
    expect(rows.every((r) => r.launches === 1 && r.attempts === 1)).toBe(true);
    const launchedBy = running.map((d) => d.messages().filter((m) => / launched as /.test(m)).length);
    expect(launchedBy.reduce((a, b) => a + b, 0)).toBe(30);
  });

  it('--once launches what is runnable, waits for the runners, and exits 0', async () => {
    const a = await submit('echo', { message: 'a' });
    const b = await submit('echo', { message: 'b' });
    const result = await runCli(['dispatch', '--once'], env());
    expect(result.exitCode).toBe(0);
    expect((await task(a.id)).status).toBe('completed');
    expect((await task(b.id)).status).toBe('completed');
  });

  it('refuses a bad flag, a bad setting and an unreachable database with the right exit codes', async () => {
    expect((await runCli(['dispatch', '--executor', 'mesos'], env())).exitCode).toBe(2);
    const badConfig = await runCli(['dispatch'], env({ TASKPOD_CONCURRENCY: '0' }));
    expect(badConfig.exitCode).toBe(2);
    expect(badConfig.stderr).toContain('concurrency (env TASKPOD_CONCURRENCY): must be a positive integer');
    const noDb = await runCli(['dispatch'], env({ DATABASE_URL: 'postgres://u:secret@127.0.0.1:1/x', TASKPOD_DB_CONNECT_TIMEOUT_MS: '2000' }));
    expect(noDb.exitCode).toBe(75);
    expect(noDb.stderr).toContain('Database connection failed');
    expect(noDb.stderr).not.toContain('secret');
  });
});
