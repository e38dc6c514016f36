// The dispatcher's Prometheus metrics, on a registry of their own (never the global one).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TaskStore } from '../tasks/store.js';

export class DispatcherMetrics {
  readonly registry = new Registry();

  readonly launches = new Counter({
    name: 'taskpod_launches_total',
    help: 'Jobs (or local runs) launched, by executor, task type and result (created, exists, rejected, error).',
    labelNames: ['executor', 'task_type', 'result'] as const,
    registers: [this.registry],
  });

  readonly failures = new Counter({
    name: 'taskpod_task_failures_total',
    help: 'Attempts the dispatcher saw fail, by reason (OOMKilled, DeadlineExceeded, ImagePullBackOff, ...) and whether it retried.',
    labelNames: ['reason', 'retried'] as const,
    registers: [this.registry],
  });

  readonly apiErrors = new Counter({
    name: 'taskpod_kube_api_errors_total',
    help: 'Kubernetes API calls that failed, by verb and HTTP status (0: no answer).',
    labelNames: ['verb', 'code'] as const,
    registers: [this.registry],
  });

  readonly dispatchLatency = new Histogram({
    name: 'taskpod_dispatch_latency_seconds',
    help: 'From a task becoming runnable (created_at or run_after) to its Job create request being answered.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  readonly reconciles = new Counter({
    name: 'taskpod_reconciles_total',
    help: 'Compare passes of tasks against Jobs, by trigger (event or interval) and result.',
    labelNames: ['trigger', 'result'] as const,
    registers: [this.registry],
  });

  constructor(store?: TaskStore) {
    if (!store) return;
    new Gauge({
      name: 'taskpod_tasks',
      help: 'Tasks by status and type.',
      labelNames: ['status', 'task_type'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const row of await store.countByStatusAndType()) this.set({ status: row.status, task_type: row.task_type }, row.count);
      },
    });
  }
}

/** The short label of a reason: "OOMKilled (exit 137)" → "OOMKilled", "ImagePullBackOff: ..." → "ImagePullBackOff". */
export function reasonLabel(reason: string): string {
  return reason.split(/[:(]/)[0].trim().slice(0, 60) || 'Unknown';
}
