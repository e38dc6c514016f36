// Guarded status transitions on the real database: a transition that lost a race returns undefined.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupTestDb, type TestDb } from '../support/db.js';

let db: TestDb;
beforeAll(async () => { db = await setupTestDb('store'); });
afterAll(async () => { await db?.cleanup(); });

const newTask = (maxAttempts = 2) => db.store.insert({ taskType: 'echo', params: { message: 'x' }, maxAttempts });

describe('TaskStore', () => {
  it('gives each task a unique 32-hex job_id and refuses malformed ones at the database', async () => {
    const [a, b] = [await newTask(), await newTask()];
    expect(a.job_id).toMatch(/^[0-9a-f]{32}$/);
    expect(a.job_id).not.toBe(b.job_id);
    await expect(db.client.query(`INSERT INTO "${db.schema}".tasks (task_type, job_id) VALUES ('echo', $1)`, ['../'.repeat(10) + 'ab']))
      .rejects.toThrow(/violates check constraint/);
  });

  it('startAttempt counts attempts and stops at max_attempts', async () => {
    const t = await newTask(2);
    expect(await db.store.startAttempt(t.id, 'w1')).toMatchObject({ status: 'running', attempts: 1, worker: 'w1' });
    expect(await db.store.startAttempt(t.id, 'w2')).toMatchObject({ attempts: 2, worker: 'w2' });
    expect(await db.store.startAttempt(t.id, 'w3')).toBeUndefined();
  });

  it('only the worker that owns the attempt can complete, fail or release it', async () => {
    const t = await newTask();
    await db.store.startAttempt(t.id, 'owner');
    expect(await db.store.complete(t.id, 'intruder')).toBeUndefined();
    expect(await db.store.fail(t.id, 'intruder', 'x')).toBeUndefined();
    expect(await db.store.release(t.id, 'intruder', 'x')).toBeUndefined();
    expect(await db.store.heartbeat(t.id, 'intruder')).toBeUndefined();
    expect(await db.store.complete(t.id, 'owner')).toMatchObject({ status: 'completed' });
    expect(await db.store.fail(t.id, 'owner', 'late')).toBeUndefined();
  });

  it('cancel wins over a later complete; retry only from failed or cancelled', async () => {
    const t = await newTask();
    await db.store.startAttempt(t.id, 'w');
    expect(await db.store.cancel(t.id)).toMatchObject({ status: 'cancelled' });
    expect(await db.store.complete(t.id, 'w')).toBeUndefined();
    expect(await db.store.retry(t.id)).toMatchObject({ status: 'pending', worker: null });
    expect(await db.store.retry(t.id)).toBeUndefined();
  });

  it('the advisory lock is exclusive per task and per schema', async () => {
    const t = await newTask();
    const other = await (await import('../support/db.js')).setupTestDb('store_other');
    try {
      expect(await db.store.tryLock(t.id)).toBe(true);
      expect(await other.store.tryLock(t.id)).toBe(true);
      const second = await (await import('../support/db.js')).setupTestDb('store_second');
      const sameSchema = new (await import('../../src/tasks/store.js')).TaskStore(second.client, db.schema);
      expect(await sameSchema.tryLock(t.id)).toBe(false);
      await db.store.unlock(t.id);
      expect(await sameSchema.tryLock(t.id)).toBe(true);
      await second.cleanup();
    } finally {
      await other.cleanup();
    }
  });

  it('raises a NOTIFY on insert and on status change', async () => {
    const listener = (await import('../support/db.js')).setupTestDb('store_listen');
    const l = await listener;
    const seen: string[] = [];
    l.client.on('notification', (n) => seen.push(`${n.channel} ${n.payload}`));
    await l.client.query(`LISTEN "${db.schema}.tasks"`);
    const t = await newTask();
    await db.store.cancel(t.id);
    const deadline = Date.now() + 5000;
    while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(seen.map((s) => JSON.parse(s.slice(s.indexOf(' ') + 1)))).toEqual([
      { id: t.id, task_type: 'echo', status: 'pending' },
      { id: t.id, task_type: 'echo', status: 'cancelled' },
    ]);
    await l.cleanup();
  });
});
