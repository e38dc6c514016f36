// Every SQL statement on tasks. Each status change is one guarded UPDATE ... WHERE status IN (...)
// RETURNING *, so a transition that lost a race returns undefined instead of overwriting.
import type { Queryable } from '../db/pool.js';
import { quoteIdent } from '../db/pool.js';
import type { Status, Task, TaskRef } from './model.js';

export interface NewTask {
  taskType: string;
  params: unknown | null;
  maxAttempts: number;
  priority?: number;
  timeoutSeconds?: number | null;
  runAfter?: Date | null;
}

export interface ListFilter { status?: Status; taskType?: string; limit?: number }

export class TaskStore {
  private readonly t: string;

  constructor(private readonly db: Queryable, readonly schema: string) {
    this.t = `${quoteIdent(schema)}.tasks`;
  }

  private async one(sql: string, values: unknown[]): Promise<Task | undefined> {
    const { rows } = await this.db.query<Task>(sql, values);
    return rows[0];
  }

  insert(task: NewTask): Promise<Task> {
    return this.one(
      `INSERT INTO ${this.t} (task_type, params, max_attempts, priority, timeout_seconds, run_after)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
      [task.taskType, task.params === null ? null : JSON.stringify(task.params), task.maxAttempts,
        task.priority ?? 0, task.timeoutSeconds ?? null, task.runAfter ?? null],
    ) as Promise<Task>;
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
      `UPDATE ${this.t} SET status = 'pending', error_message = NULL, finished_at = NULL, worker = NULL,
              k8s_job_name = NULL, queued_at = NULL, progress = NULL, progress_message = NULL,
              max_attempts = GREATEST(max_attempts, attempts + 1)
        WHERE id = $1 AND status IN ('failed', 'cancelled') RETURNING *`, [taskId]);
  }
}
