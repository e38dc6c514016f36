// Every SQL statement on tasks. Each status change is one guarded UPDATE ... WHERE status IN (...)
// RETURNING *, so a transition that lost a race returns undefined instead of overwriting.
import pg from 'pg';
import type { Queryable } from '../db/pool.js';
import { quoteIdent, withPoolClient } from '../db/pool.js';
import type { Status, Task, TaskRef } from './model.js';

export interface NewTask {
  taskType: string;
  params: unknown | null;
  maxAttempts: number;
  priority?: number;
  timeoutSeconds?: number | null;
  runAfter?: Date | null;
  resources?: Task['resources'];
  /** Unique across tasks: a second insert with the same key returns the first task instead. */
  dedupeKey?: string | null;
}

export interface ListFilter { status?: Status; taskType?: string; limit?: number }

export interface ClaimLimits {
  /** At most this many tasks queued or running in all. */
  total: number;
  /** Per-type caps on queued plus running. */
  perType: Record<string, number>;
  /** Job names are <jobPrefix>-<id>-<launch>. */
  jobPrefix: string;
  /** At most this many claimed in one call. */
  batch: number;
}

/** What the dispatcher records when a launched attempt ended without the runner finishing it. */
export interface LaunchOutcome {
  taskId: number;
  /** The Job (or local run) the outcome belongs to: a task relaunched since is left alone. */
  jobName: string;
  status: 'pending' | 'failed';
  message: string;
  logTail?: string | null;
  /** For pending: not before this many seconds from now. */
  delaySeconds?: number;
}

export class TaskStore {
  private readonly t: string;

  constructor(private readonly db: Queryable, readonly schema: string) {
    this.t = `${quoteIdent(schema)}.tasks`;
  }

  private async one(sql: string, values: unknown[]): Promise<Task | undefined> {
    const { rows } = await this.db.query<Task>(sql, values);
    return rows[0];
  }

  /** Inserts the task; with a dedupe key already taken, returns that key's task instead. */
  async insert(task: NewTask): Promise<Task> {
    return (await this.insertOnce(task)).task;
  }

  /** Inserts the task, or with a dedupe key already taken, returns that key's task with created false. */
  async insertOnce(task: NewTask): Promise<{ task: Task; created: boolean }> {
    const values = [task.taskType, task.params === null ? null : JSON.stringify(task.params), task.maxAttempts,
      task.priority ?? 0, task.timeoutSeconds ?? null, task.runAfter ?? null,
      task.resources ? JSON.stringify(task.resources) : null, task.dedupeKey ?? null];
    // ON CONFLICT waits for a concurrent insert of the same key to commit or roll back, so two
    // submits racing on one key make one task; the loser reads the winner's row.
    const inserted = await this.one(
      `INSERT INTO ${this.t} (task_type, params, max_attempts, priority, timeout_seconds, run_after, resources, dedupe_key)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (dedupe_key) DO NOTHING RETURNING *`, values);
    if (inserted) return { task: inserted, created: true };
    const existing = await this.one(`SELECT * FROM ${this.t} WHERE dedupe_key = $1`, [task.dedupeKey]);
    if (!existing) throw new Error(`Task with dedupe key ${JSON.stringify(task.dedupeKey)} neither inserted nor found`);
    return { task: existing, created: false };
  }

  find(ref: TaskRef): Promise<Task | undefined> {
    return 'taskId' in ref
      ? this.one(`SELECT * FROM ${this.t} WHERE id = $1`, [ref.taskId])
      : this.one(`SELECT * FROM ${this.t} WHERE job_id = $1`, [ref.jobId]);
  }

  /** Pending tasks whose run_after has passed, by priority then age: the candidates for `run --next`. */
  async nextRunnable(limit: number): Promise<Task[]> {
    const { rows } = await this.db.query<Task>(
      `SELECT * FROM ${this.t}
        WHERE status = 'pending' AND (run_after IS NULL OR run_after <= now())
        ORDER BY priority DESC, id LIMIT $1`, [limit]);
    return rows;
  }

  /**
   * pending (run_after passed) → queued with a new Job name, by priority then age, within the
   * total and per-type limits. Claims are serialised per schema by a transaction-level advisory
   * lock so that replicas counting the active tasks at the same moment cannot overshoot a limit;
   * SKIP LOCKED passes over rows another transaction holds. Needs a connection of its own
   * (it runs a transaction): pass a pool, not a client shared with other work.
   */
  async claim(limits: ClaimLimits): Promise<Task[]> {
    return this.transaction(async (db) => {
      await db.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`taskpod-claim:${this.schema}`]);
      const claimRound = (batch: number) => db.query<Task>(
        `WITH active AS (
           SELECT task_type, count(*)::int AS n FROM ${this.t}
            WHERE status IN ('queued', 'running') GROUP BY task_type
         ), full_types AS (
           SELECT l.key AS task_type FROM jsonb_each_text($2::jsonb) l
             LEFT JOIN active a ON a.task_type = l.key
            WHERE coalesce(a.n, 0) >= l.value::int
         ), candidates AS (
           SELECT id, task_type, priority FROM ${this.t}
            WHERE status = 'pending' AND (run_after IS NULL OR run_after <= now())
              AND task_type NOT IN (SELECT task_type FROM full_types)
            ORDER BY priority DESC, id
            LIMIT $4 * 4
            FOR UPDATE SKIP LOCKED
         ), ranked AS (
           SELECT c.id, c.priority, ($2::jsonb ->> c.task_type)::int AS type_limit,
                  coalesce(a.n, 0) + row_number() OVER (PARTITION BY c.task_type ORDER BY c.priority DESC, c.id) AS type_load
             FROM candidates c LEFT JOIN active a ON a.task_type = c.task_type
         ), chosen AS (
           SELECT id FROM ranked WHERE type_limit IS NULL OR type_load <= type_limit
            ORDER BY priority DESC, id
            LIMIT least($4, greatest(0, $1 - (SELECT coalesce(sum(n), 0) FROM active)))
         )
         UPDATE ${this.t} t SET status = 'queued', launches = t.launches + 1, queued_at = now(),
                k8s_job_name = $3 || '-' || t.id || '-' || (t.launches + 1), worker = NULL
           FROM chosen WHERE t.id = chosen.id
         RETURNING t.*`,
        [limits.total, JSON.stringify(limits.perType), limits.jobPrefix, batch]);
      // A round scans a bounded window by priority; when a type fills up inside it, the next round
      // (which skips full types) reaches the other types' tasks behind it.
      const rows: Task[] = [];
      for (let round = 0; round < 8 && rows.length < limits.batch; round++) {
        const { rows: claimed } = await claimRound(limits.batch - rows.length);
        if (!claimed.length) break;
        rows.push(...claimed);
      }
      return rows.sort((a, b) => b.priority - a.priority || a.id - b.id);
    });
  }

  /** Tasks the dispatcher compares with what runs: queued and running ones, and the given ids. */
  async forReconcile(ids: number[]): Promise<Task[]> {
    const { rows } = await this.db.query<Task>(
      `SELECT * FROM ${this.t} WHERE status IN ('queued', 'running') OR id = ANY($1::bigint[])`, [ids]);
    return rows;
  }

  /** running tasks whose heartbeat is older than staleSeconds: their runner may have vanished. */
  async staleRunning(staleSeconds: number, limit = 100): Promise<Task[]> {
    const { rows } = await this.db.query<Task>(
      `SELECT * FROM ${this.t} WHERE status = 'running' AND heartbeat_at < now() - make_interval(secs => $1)
        ORDER BY heartbeat_at LIMIT $2`, [staleSeconds, limit]);
    return rows;
  }

  /**
   * Records how a launched attempt ended when its runner did not finish the task: back to pending
   * (with a delay) for a retry, or failed. Guarded by the Job name and by the attempt counters seen,
   * so an outcome that is no longer current (relaunched, finished, taken over) changes nothing.
   * Charges the attempt even if no runner started (attempts = launches at least).
   */
  recordLaunchOutcome(outcome: LaunchOutcome, seen: { attempts: number; status: Status }): Promise<Task | undefined> {
    return this.one(
      `UPDATE ${this.t} SET status = $3, error_message = $4, log_tail = coalesce($5, log_tail),
              attempts = greatest(attempts, launches), worker = NULL,
              run_after = CASE WHEN $3 = 'pending' THEN now() + make_interval(secs => $6) ELSE run_after END,
              k8s_job_name = CASE WHEN $3 = 'pending' THEN NULL ELSE k8s_job_name END,
              finished_at = CASE WHEN $3 = 'failed' THEN now() ELSE NULL END
        WHERE id = $1 AND coalesce(k8s_job_name, '') = $2 AND status = $7 AND attempts = $8
        RETURNING *`,
      [outcome.taskId, outcome.jobName, outcome.status, outcome.message, outcome.logTail ?? null,
        outcome.delaySeconds ?? 0, seen.status, seen.attempts]);
  }

  /** Adds the log tail of a Job to a task that has already ended (the runner wrote its own message). */
  async recordLogTail(taskId: number, jobName: string, logTail: string): Promise<void> {
    await this.db.query(
      `UPDATE ${this.t} SET log_tail = $3 WHERE id = $1 AND k8s_job_name = $2 AND log_tail IS NULL`,
      [taskId, jobName, logTail]);
  }

  /** LISTEN on the channel the tasks table's trigger notifies on every insert and status change. */
  async listen(): Promise<void> {
    await this.db.query(`LISTEN ${quoteIdent(`${this.schema}.tasks`)}`);
  }

  /** The database's clock: the dispatcher compares queued_at with it, never with its own. */
  async now(): Promise<Date> {
    const { rows } = await this.db.query<{ now: Date }>('SELECT now() AS now');
    return rows[0].now;
  }

  /** Task counts by status and type, for metrics. */
  async countByStatusAndType(): Promise<Array<{ status: Status; task_type: string; count: number }>> {
    const { rows } = await this.db.query<{ status: Status; task_type: string; count: number }>(
      `SELECT status, task_type, count(*)::int AS count FROM ${this.t} GROUP BY status, task_type`);
    return rows;
  }

  /**
   * Runs work in a transaction: on a connection of its own when the store has a pool; on the
   * store's client otherwise, so the store's own calls inside work are part of it.
   */
  async transaction<T>(work: (db: Queryable) => Promise<T>): Promise<T> {
    const run = async (db: Queryable) => {
      await db.query('BEGIN');
      try {
        const result = await work(db);
        await db.query('COMMIT');
        return result;
      } catch (err) {
        await db.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    };
    return this.db instanceof pg.Pool ? withPoolClient(this.db, run) : run(this.db);
  }

  async list(filter: ListFilter = {}): Promise<Task[]> {
    const { rows } = await this.db.query<Task>(
      `SELECT * FROM ${this.t}
        WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR task_type = $2)
        ORDER BY id DESC LIMIT $3`,
      [filter.status ?? null, filter.taskType ?? null, filter.limit ?? 100]);
    return rows;
  }

  /**
   * Session-level advisory lock held by a runner for the whole run; it frees itself if the
   * connection dies. Keyed by schema and id so that two schemas never collide.
   */
  async tryLock(taskId: number): Promise<boolean> {
    const { rows } = await this.db.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_lock(hashtext($1), ($2::bigint % 2147483648)::int) AS locked', [this.schema, taskId]);
    return rows[0].locked;
  }

  async unlock(taskId: number): Promise<void> {
    await this.db.query('SELECT pg_advisory_unlock(hashtext($1), ($2::bigint % 2147483648)::int)', [this.schema, taskId]);
  }

  /** pending|queued|running → running for a new attempt, if attempts remain. */
  startAttempt(taskId: number, worker: string): Promise<Task | undefined> {
    return this.one(
      `UPDATE ${this.t} SET status = 'running', attempts = attempts + 1, worker = $2,
              started_at = now(), heartbeat_at = now(), finished_at = NULL, error_message = NULL,
              progress = NULL, progress_message = NULL
        WHERE id = $1 AND status IN ('pending', 'queued', 'running') AND attempts < max_attempts
        RETURNING *`, [taskId, worker]);
  }

  /** Refreshes heartbeat_at; undefined when the task is no longer this worker's running task. */
  heartbeat(taskId: number, worker: string): Promise<Task | undefined> {
    return this.one(
      `UPDATE ${this.t} SET heartbeat_at = now() WHERE id = $1 AND worker = $2 AND status = 'running' RETURNING *`,
      [taskId, worker]);
  }

  async setProgress(taskId: number, worker: string, progress: number, message: string | null): Promise<void> {
    await this.db.query(
      `UPDATE ${this.t} SET progress = $3, progress_message = $4, heartbeat_at = now()
        WHERE id = $1 AND worker = $2 AND status = 'running'`, [taskId, worker, progress, message]);
  }

  complete(taskId: number, worker: string): Promise<Task | undefined> {
    return this.one(
      `UPDATE ${this.t} SET status = 'completed', finished_at = now(), progress = 1, error_message = NULL
        WHERE id = $1 AND worker = $2 AND status = 'running' RETURNING *`, [taskId, worker]);
  }

  /** running → failed for this worker's attempt. */
  fail(taskId: number, worker: string, message: string): Promise<Task | undefined> {
    return this.one(
      `UPDATE ${this.t} SET status = 'failed', finished_at = now(), error_message = $3
        WHERE id = $1 AND worker = $2 AND status = 'running' RETURNING *`, [taskId, worker, message]);
  }

  /** Any runnable status → failed, for a task that cannot start (attempts used up, no plugin). */
  failRunnable(taskId: number, message: string): Promise<Task | undefined> {
    return this.one(
      `UPDATE ${this.t} SET status = 'failed', finished_at = now(), error_message = $2
        WHERE id = $1 AND status IN ('pending', 'queued', 'running') RETURNING *`, [taskId, message]);
  }

  /**
   * running → runnable again after an interruption (SIGTERM): queued when a Job was launched for
   * it (the Job's next pod takes it), pending otherwise (any launcher may take it).
   */
  release(taskId: number, worker: string, message: string): Promise<Task | undefined> {
    return this.one(
      `UPDATE ${this.t} SET status = CASE WHEN k8s_job_name IS NULL THEN 'pending' ELSE 'queued' END,
              error_message = $3, worker = NULL
        WHERE id = $1 AND worker = $2 AND status = 'running' RETURNING *`, [taskId, worker, message]);
  }

  cancel(taskId: number): Promise<Task | undefined> {
    return this.one(
      `UPDATE ${this.t} SET status = 'cancelled', finished_at = now(), error_message = 'Cancelled by request'
        WHERE id = $1 AND status IN ('pending', 'queued', 'running') RETURNING *`, [taskId]);
  }

  /** failed|cancelled → pending, with at least one attempt left. */
  retry(taskId: number): Promise<Task | undefined> {
    return this.one(
      `UPDATE ${this.t} SET status = 'pending', error_message = NULL, finished_at = NULL, worker = NULL, run_after = NULL, log_tail = NULL,
              k8s_job_name = NULL, queued_at = NULL, progress = NULL, progress_message = NULL,
              max_attempts = GREATEST(max_attempts, attempts + 1)
        WHERE id = $1 AND status IN ('failed', 'cancelled') RETURNING *`, [taskId]);
  }
}
