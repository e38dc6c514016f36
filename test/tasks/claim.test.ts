// The dispatcher's claim on the real database: priority, run_after, the total and per-type
// limits, and replicas claiming at the same moment without overshooting or sharing a task.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { setupTestDb, type TestDb } from '../support/db.js';
import { TaskStore, type ClaimLimits } from '../../src/tasks/store.js';
import { createPool, resolveDatabaseUrl } from '../../src/db/pool.js';
import { loadConfig } from '../../src/config.js';

let db: TestDb;
let pool: pg.Pool;
let store: TaskStore;
beforeAll(async () => {
  db = await setupTestDb('claim');
  const config = loadConfig({ ...process.env, ...db.env() });
  pool = createPool(await resolveDatabaseUrl(config), config, 12);
  store = new TaskStore(pool, db.schema);
});
afterAll(async () => {
  await pool?.end();
  await db?.cleanup();
});
beforeEach(async () => {
  await db.client.query(`TRUNCATE "${db.schema}".tasks`);
});

const limits = (over: Partial<ClaimLimits> = {}): ClaimLimits => ({ total: 100, perType: {}, jobPrefix: 'tp', batch: 100, ...over });
const insert = (taskType = 'echo', extra: { priority?: number; runAfter?: Date } = {}) =>
  db.store.insert({ taskType, params: {}, maxAttempts: 3, ...extra });

describe('claim', () => {
  it('queues pending tasks by priority then age, naming each Job <prefix>-<id>-<launch>', async () => {
    const low = await insert('echo', { priority: 0 });
    const high = await insert('echo', { priority: 5 });
    const claimed = await store.claim(limits());
    expect(claimed.map((t) => t.id)).toEqual([high.id, low.id]);
    expect(claimed[0]).toMatchObject({ status: 'queued', launches: 1, k8s_job_name: `tp-${high.id}-1` });
    expect(claimed[0].queued_at).toBeInstanceOf(Date);
    expect(await store.claim(limits())).toEqual([]);
  });

  it('waits for run_after, and a relaunch gets the next number', async () => {
    const later = await insert('echo', { runAfter: new Date(Date.now() + 3_600_000) });
    const now = await insert('echo', { runAfter: new Date(Date.now() - 1000) });
    expect((await store.claim(limits())).map((t) => t.id)).toEqual([now.id]);
    await db.client.query(`UPDATE "${db.schema}".tasks SET status = 'pending', run_after = now() WHERE id = $1`, [now.id]);
    expect((await store.claim(limits()))[0]).toMatchObject({ id: now.id, launches: 2, k8s_job_name: `tp-${now.id}-2` });
    expect((await store.find({ taskId: later.id }))!.status).toBe('pending');
  });

  it('counts queued and running tasks against the total limit', async () => {
    for (let i = 0; i < 5; i++) await insert();
    const running = await insert();
    await db.store.startAttempt(running.id, 'elsewhere');
    expect(await store.claim(limits({ total: 3 }))).toHaveLength(2);
    expect(await store.claim(limits({ total: 3 }))).toHaveLength(0);
  });

  it('keeps each type within its own limit without starving the other types', async () => {
    for (let i = 0; i < 30; i++) await insert('heavy', { priority: 10 });
    for (let i = 0; i < 3; i++) await insert('light');
    const first = await store.claim(limits({ perType: { heavy: 2 }, batch: 5 }));
    expect(first.filter((t) => t.task_type === 'heavy')).toHaveLength(2);
    expect(first.filter((t) => t.task_type === 'light')).toHaveLength(3);
    // heavy is full: further claims find nothing, although 28 heavy tasks are pending first in line.
    expect(await store.claim(limits({ perType: { heavy: 2 } }))).toEqual([]);
    // A type limit of 0 pauses the type.
    await db.client.query(`UPDATE "${db.schema}".tasks SET status = 'completed' WHERE status = 'queued'`);
    expect(await store.claim(limits({ perType: { heavy: 0 } }))).toEqual([]);
  });

  it('several replicas claiming at once never share a task and never overshoot the limit', async () => {
    for (let i = 0; i < 200; i++) await insert(i % 2 ? 'a' : 'b');
    const replicas = Array.from({ length: 8 }, () => new TaskStore(pool, db.schema));
    const rounds = await Promise.all(replicas.map((r) => r.claim(limits({ total: 50, perType: { a: 20 }, batch: 10 }))));
    const ids = rounds.flat().map((t) => t.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(50);
    const { rows } = await db.client.query(`SELECT task_type, count(*)::int AS n FROM "${db.schema}".tasks WHERE status = 'queued' GROUP BY 1 ORDER BY 1`);
    expect(rows).toEqual([{ task_type: 'a', n: 20 }, { task_type: 'b', n: 30 }]);
  });

  it('records a launch outcome only for the current Job and attempt', async () => {
    await insert();
    const [task] = await store.claim(limits());
    const stale = await store.recordLaunchOutcome(
      { taskId: task.id, jobName: 'tp-999-1', status: 'failed', message: 'x' }, { attempts: task.attempts, status: 'queued' });
    expect(stale).toBeUndefined();
    const retried = await store.recordLaunchOutcome(
      { taskId: task.id, jobName: task.k8s_job_name!, status: 'pending', message: 'Evicted: retrying', logTail: 'last line', delaySeconds: 30 },
      { attempts: task.attempts, status: 'queued' });
    // The launch counts as an attempt even though no runner started.
    expect(retried).toMatchObject({ status: 'pending', attempts: 1, k8s_job_name: null, error_message: 'Evicted: retrying', log_tail: 'last line' });
    expect(retried!.run_after!.getTime()).toBeGreaterThan(Date.now() + 20_000);
    expect(await store.claim(limits())).toEqual([]);
  });
});
