// Reads a Job and its pods the way an operator would, and says what happened in words a
// person can act on: "OOMKilled (exit 137)", "ImagePullBackOff: ...", "Unschedulable: ...".
// Pure: the Kubernetes executor feeds it what it listed.
import type { V1Job, V1Pod, V1ContainerStatus, V1JobCondition } from '@kubernetes/client-node';
import type { RunObservation } from './executor.js';
import { EXIT } from '../runner.js';
import { LABELS, TASK_CONTAINER } from './job-spec.js';

/** Container waiting reasons that will not fix themselves soon. */
const BLOCKING_WAIT_REASONS = new Set([
  'ImagePullBackOff', 'ErrImagePull', 'InvalidImageName', 'ErrImageNeverPull',
  'CreateContainerConfigError', 'CreateContainerError', 'RunContainerError',
]);

export function describeJob(job: V1Job, pods: V1Pod[]): RunObservation | undefined {
  const labels = job.metadata?.labels ?? {};
  const taskId = Number(labels[LABELS.taskId]);
  const attempt = Number(labels[LABELS.attempt]);
  const name = job.metadata?.name;
  if (!name || !Number.isSafeInteger(taskId) || taskId < 1) return undefined;
  const jobCreated = toDate(job.metadata?.creationTimestamp);
  const base = { name, taskId, attempt: Number.isSafeInteger(attempt) ? attempt : 0, createdAt: jobCreated };

  const ownPods = pods
    .filter((pod) => pod.metadata?.labels?.['job-name'] === name || pod.metadata?.labels?.['batch.kubernetes.io/job-name'] === name)
    .sort((a, b) => toDate(a.metadata?.creationTimestamp).getTime() - toDate(b.metadata?.creationTimestamp).getTime());
  const latest = ownPods.at(-1);

  if (isTrue(job, 'Complete') || isTrue(job, 'SuccessCriteriaMet')) return { ...base, phase: 'succeeded' };
  const failed = condition(job, 'Failed') ?? condition(job, 'FailureTarget');
  if (failed) return { ...base, phase: 'failed', ...failureReason(job, failed, ownPods) };

  if (job.spec?.suspend && !job.status?.startTime) return { ...base, phase: 'starting', suspended: true };
  if (!latest) return { ...base, phase: 'starting' };
  // A replacement pod is due: the start deadline counts from when the last one ended.
  if (isFinished(latest)) return { ...base, createdAt: endedAt(latest), phase: 'starting' };
  if (hasStarted(latest)) return { ...base, phase: 'running' };
  // The start deadline counts from the current pod: a replacement pod gets its own.
  return { ...base, createdAt: toDate(latest.metadata?.creationTimestamp ?? job.metadata?.creationTimestamp), phase: 'starting', blockedBy: blockedBy(latest) };
}

function failureReason(job: V1Job, failed: V1JobCondition, pods: V1Pod[]): Pick<RunObservation, 'reason' | 'retryable'> {
  const jobReason = failed.reason || 'Failed';
  if (jobReason === 'DeadlineExceeded') {
    const seconds = job.spec?.activeDeadlineSeconds;
    return { reason: `DeadlineExceeded: the Job ran longer than its activeDeadlineSeconds${seconds ? ` (${seconds} s)` : ''}`, retryable: false };
  }
  const lastFailed = [...pods].reverse().find((pod) => pod.status?.phase === 'Failed') ?? pods.at(-1);
  const terminated = lastFailed && mainContainer(lastFailed)?.state?.terminated;
  if (lastFailed?.status?.reason === 'Evicted' || hasCondition(lastFailed, 'DisruptionTarget')) {
    return { reason: `Evicted: ${lastFailed?.status?.message ?? 'the pod was disrupted'}`, retryable: true };
  }
  if (terminated?.reason === 'OOMKilled') {
    const limit = lastFailed?.spec?.containers?.[0]?.resources?.limits?.memory;
    return { reason: `OOMKilled (exit ${terminated.exitCode ?? 137})${limit ? `: memory limit ${limit}` : ''}`, retryable: false };
  }
  if (terminated && terminated.exitCode !== undefined) {
    const code = terminated.exitCode;
    const meaning = EXIT_MEANINGS[code] ?? (code > 128 ? `killed by signal ${code - 128}` : undefined);
    return {
      reason: `${jobReason}: exit ${code}${meaning ? ` (${meaning})` : ''}`,
      retryable: code === EXIT.tempfail || code > 128,
    };
  }
  return { reason: `${jobReason}: ${failed.message ?? 'no pod status left to say why'}`, retryable: true };
}

const EXIT_MEANINGS: Record<number, string> = {
  [EXIT.failed]: 'the task failed, or the runner hit an error',
  [EXIT.usage]: 'usage error in the runner\'s arguments',
  [EXIT.tempfail]: 'the runner could not reach the database',
  137: 'killed by SIGKILL',
  [EXIT.interrupted]: 'killed by SIGTERM',
};

function blockedBy(pod: V1Pod): string | undefined {
  for (const status of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
    const waiting = status.state?.waiting;
    if (waiting?.reason && BLOCKING_WAIT_REASONS.has(waiting.reason)) return `${waiting.reason}: ${waiting.message ?? status.image}`;
  }
  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False') return `${scheduled.reason ?? 'Unschedulable'}: ${scheduled.message ?? 'no node fits the pod'}`;
  return undefined;
}

function mainContainer(pod: V1Pod): V1ContainerStatus | undefined {
  const statuses = pod.status?.containerStatuses ?? [];
  return statuses.find((s) => s.name === TASK_CONTAINER) ?? statuses[0];
}

function hasStarted(pod: V1Pod): boolean {
  if (pod.status?.phase === 'Running') return true;
  const state = mainContainer(pod)?.state;
  return Boolean(state?.running || state?.terminated);
}

function isFinished(pod: V1Pod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

function endedAt(pod: V1Pod): Date {
  return toDate(mainContainer(pod)?.state?.terminated?.finishedAt ?? pod.metadata?.creationTimestamp);
}

function condition(job: V1Job, type: string): V1JobCondition | undefined {
  return job.status?.conditions?.find((c) => c.type === type && c.status === 'True');
}

function isTrue(job: V1Job, type: string): boolean {
  return condition(job, type) !== undefined;
}

function hasCondition(pod: V1Pod | undefined, type: string): boolean {
  return pod?.status?.conditions?.some((c) => c.type === type && c.status === 'True') ?? false;
}

function toDate(value: Date | string | undefined): Date {
  return value ? new Date(value) : new Date(0);
}
