// The task as stored, its statuses, and the errors the task commands and the runner raise.
import type { ResourceRequirements } from '../config.js';

export const STATUSES = ['pending', 'queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export type Status = (typeof STATUSES)[number];

/** Statuses a runner may execute: running stays runnable so a retried pod can take over. */
export const RUNNABLE: readonly Status[] = ['pending', 'queued', 'running'];
export const FINAL: readonly Status[] = ['completed', 'failed', 'cancelled'];

/** A row of <schema>.tasks, keyed by column name. */
export interface Task {
  id: number;
  job_id: string;
  task_type: string;
  status: Status;
  params: unknown;
  error_message: string | null;
  attempts: number;
  max_attempts: number;
  priority: number;
  timeout_seconds: number | null;
  progress: number | null;
  progress_message: string | null;
  k8s_job_name: string | null;
  worker: string | null;
  created_at: Date;
  updated_at: Date;
  queued_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
  heartbeat_at: Date | null;
  run_after: Date | null;
  /** Jobs (or local runners) the dispatcher has launched for this task. */
  launches: number;
  /** Per-task Job resources: {requests: {...}, limits: {...}}. */
  resources: ResourceRequirements | null;
  /** Tail of a failed pod's log, recorded with the failure reason. */
  log_tail: string | null;
  /** The submitter's key for this piece of work, unique across tasks (e.g. a CronJob's Job name). */
  dedupe_key: string | null;
}

/** How a task is named on the command line: by task_id or by job_id. */
export type TaskRef = { taskId: number } | { jobId: string };

export const JOB_ID = /^[0-9a-f]{32}$/;

/** A task that does not exist, a type without a plugin, bad params: the guide's "Business error". */
export class BusinessError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BusinessError';
  }
}

export class TaskNotFoundError extends BusinessError {
  constructor(ref: TaskRef) {
    super(`Task not found: ${describeRef(ref)}`);
  }
}

/** Bad command-line input (exit 2). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function describeRef(ref: TaskRef): string {
  return 'taskId' in ref ? `task_id=${ref.taskId}` : `job_id=${ref.jobId}`;
}

export function parseTaskId(value: string, flag = '--task-id'): number {
  if (!/^\d+$/.test(value) || value.length > 15 || Number(value) < 1) {
    throw new UsageError(`${flag} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

export function parseJobId(value: string, flag = '--job-id'): string {
  if (!JOB_ID.test(value)) {
    throw new UsageError(`${flag} must be 32 lowercase hexadecimal characters, got ${JSON.stringify(value.slice(0, 80))}`);
  }
  return value;
}

/** An ID|JOB_ID argument: digits are a task_id, 32 hex characters a job_id. */
export function parseTaskRef(value: string): TaskRef {
  if (/^\d+$/.test(value)) return { taskId: parseTaskId(value, 'ID') };
  if (JOB_ID.test(value)) return { jobId: value };
  throw new UsageError(`expected a task_id (positive integer) or a job_id (32 lowercase hex characters), got ${JSON.stringify(value.slice(0, 80))}`);
}
