// Guarded status transitions on the real database: a transition that lost a race returns undefined.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupTestDb, type TestDb } from '../support/db.js';
import { waitFor } from '../support/wait.js';
import { TaskStore } from '../../src/tasks/store.js';

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
    const otherSchema = await setupTestDb('store_other');
    const secondSession = await setupTestDb('store_second');
    try {
      expect(await db.store.tryLock(t.id)).toBe(true);
      expect(await otherSchema.store.tryLock(t.id)).toBe(true);
      const sameSchema = new TaskStore(secondSession.client, db.schema);
      expect(await sameSchema.tryLock(t.id)).toBe(false);
      await db.store.unlock(t.id);
      expect(await sameSchema.tryLock(t.id)).toBe(true);
    } finally {
      await Promise.all([otherSchema.cleanup(), secondSession.cleanup()]);
    }
  });

  it('raises a NOTIFY on insert and on status change', async () => {
    const listener = await setupTestDb('store_listen');
    try {
      const seen: Array<{ channel: string; payload?: string }> = [];
      listener.client.on('notification', (n) => seen.push(n));
      await listener.client.query(`LISTEN "${db.schema}.tasks"`);
      const t = await newTask();
      await db.store.cancel(t.id);
      await waitFor(() => seen.length >= 2, 5_000, 'two notifications');
      expect(seen.every((n) => n.channel === `${db.schema}.tasks`)).toBe(true);
      expect(seen.map((n) => JSON.parse(n.payload!))).toEqual([
        { id: t.id, task_type: 'echo', status: 'pending' },
        { id: t.id, task_type: 'echo', status: 'cancelled' },
      ]);
    } finally {
      await listener.cleanup();
    }
  });
});
