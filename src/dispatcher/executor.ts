// What the dispatcher needs from the place tasks run: Kubernetes Jobs, or local child processes.
// Both report what exists as observations; the dispatcher compares them with the tasks.
import type { Task } from '../tasks/model.js';

export interface LaunchSpec {
  task: Task;
  /** <prefix>-<task_id>-<launch>: deterministic, so a repeated create finds the first one. */
  name: string;
  attempt: number;
}

/** A launch the API refused for a reason retrying will not fix (403 Forbidden, 422 Invalid). */
export class LaunchRejected extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = 'LaunchRejected';
  }
}

/** One Job (or local runner) as it is now. */
export interface RunObservation {
  name: string;
  taskId: number;
  attempt: number;
  createdAt: Date;
  /**
   * starting: no container has started yet (pending, pulling, unschedulable); running: a runner
   * is (or may be) at work; succeeded / failed: finished.
   */
  phase: 'starting' | 'running' | 'succeeded' | 'failed';
  /** For failed: why, in words a person can act on ("OOMKilled (exit 137)", "Evicted: ..."). */
  reason?: string;
  /** For starting: what blocks it ("ImagePullBackOff: ...", "Unschedulable: ..."), if anything. */
  blockedBy?: string;
  /** Created suspended and not yet admitted (Kueue): no start deadline applies. */
  suspended?: boolean;
  /** For failed: an infrastructure failure (eviction, disruption, database unreachable), worth retrying. */
  retryable?: boolean;
}

export interface Executor {
  readonly kind: 'kubernetes' | 'local';
  /**
   * True when observe() sees what every dispatcher replica launched (Jobs in the API server);
   * false when it sees only this process's own runs (local child processes).
   */
  readonly sharedView: boolean;
  /** Starts watching; onChange is called (often, cheaply) whenever something may have changed. */
  start(onChange: () => void): Promise<void>;
  /** Creates the Job or process; 'exists' when one by that name is already there. Throws LaunchRejected. */
  launch(spec: LaunchSpec): Promise<'created' | 'exists'>;
  /** Everything this dispatcher instance manages; fresh: ask the API, not a cache. */
  observe(fresh: boolean): Promise<RunObservation[]>;
  /** Last lines of the run's log, if it can still be read. */
  logTail(name: string, lines: number): Promise<string | undefined>;
  /** Deletes the Job (and its pods) or stops the process; a missing one is not an error. */
  remove(name: string): Promise<void>;
  /** True when the executor's backend (the API server) answered recently. */
  ready(): Promise<boolean>;
  /** Stops watching; local runners are sent SIGTERM and awaited. */
  stop(): Promise<void>;
}
