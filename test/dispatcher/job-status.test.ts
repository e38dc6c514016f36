// describeJob reads Jobs and pods as Kubernetes reports them (objects shaped like the API's)
// and names the reason; backoffSeconds and retryDelayMs are the retry schedules.
import { describe, expect, it } from 'vitest';
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { describeJob } from '../../src/dispatcher/job-status.js';
import { backoffSeconds } from '../../src/dispatcher/reconcile.js';
import { retryDelayMs } from '../../src/dispatcher/rate-limit.js';

const created = '2026-12-03T10:00:00Z';

function job(status: V1Job['status'] = {}, spec: Partial<V1Job['spec']> = {}): V1Job {
  return {
    metadata: { name: 'taskpod-7-2', creationTimestamp: new Date(created), labels: { 'taskpod.dev/task-id': '7', 'taskpod.dev/attempt': '2' } },
    spec: { template: { spec: { containers: [] } }, ...spec },
    status,
  };
}

function pod(name: string, status: V1Pod['status'], limits?: Record<string, string>): V1Pod {
  return {
    metadata: { name, creationTimestamp: new Date('2026-12-03T10:00:05Z'), labels: { 'job-name': 'taskpod-7-2' } },
    spec: { containers: [{ name: 'task', resources: limits ? { limits } : undefined }] },
    status,
  };
}

const failedCondition = (reason: string, message = '') => ({ conditions: [{ type: 'Failed', status: 'True', reason, message }] });
const terminated = (exitCode: number, reason = 'Error') => ({
  phase: 'Failed', containerStatuses: [{ name: 'task', image: 'i', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode, reason } } }],
});

describe('describeJob', () => {
  it('ignores Jobs without taskpod labels', () => {
    expect(describeJob({ metadata: { name: 'other' } }, [])).toBeUndefined();
  });

  it('Complete, and SuccessCriteriaMet before the pods are gone, are succeeded', () => {
    expect(describeJob(job({ conditions: [{ type: 'Complete', status: 'True' }] }), [])).toMatchObject({ phase: 'succeeded', taskId: 7, attempt: 2, name: 'taskpod-7-2' });
    expect(describeJob(job({ conditions: [{ type: 'SuccessCriteriaMet', status: 'True' }] }), [])!.phase).toBe('succeeded');
  });

  it('OOMKilled names the exit code and the memory limit; not retried', () => {
    const seen = describeJob(job(failedCondition('PodFailurePolicy')), [pod('p1', terminated(137, 'OOMKilled'), { memory: '512Mi' })]);
    expect(seen).toMatchObject({ phase: 'failed', reason: 'OOMKilled (exit 137): memory limit 512Mi', retryable: false });
  });

  it('an evicted pod is an infrastructure failure, retried', () => {
    const evicted = { phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.' };
    expect(describeJob(job(failedCondition('BackoffLimitExceeded')), [pod('p1', evicted)]))
      .toMatchObject({ reason: 'Evicted: The node was low on resource: memory.', retryable: true });
  });

  it('exit codes: 75 and signals are retried, 1 is not; FailureTarget counts as failed', () => {
    expect(describeJob(job(failedCondition('BackoffLimitExceeded')), [pod('p1', terminated(75))]))
      .toMatchObject({ reason: 'BackoffLimitExceeded: exit 75 (the runner could not reach the database)', retryable: true });
    expect(describeJob(job({ conditions: [{ type: 'FailureTarget', status: 'True', reason: 'PodFailurePolicy' }] }), [pod('p1', terminated(1))]))
      .toMatchObject({ reason: 'PodFailurePolicy: exit 1 (the task failed, or the runner hit an error)', retryable: false });
    expect(describeJob(job(failedCondition('PodFailurePolicy')), [pod('p1', terminated(137))]))
      .toMatchObject({ reason: 'PodFailurePolicy: exit 137 (killed by SIGKILL)', retryable: true });
  });

  it('DeadlineExceeded names the deadline; not retried', () => {
    expect(describeJob(job(failedCondition('DeadlineExceeded'), { activeDeadlineSeconds: 90 }), []))
      .toMatchObject({ reason: 'DeadlineExceeded: the Job ran longer than its activeDeadlineSeconds (90 s)', retryable: false });
  });

  it('a failed Job whose pods are gone still says what Kubernetes said', () => {
    expect(describeJob(job(failedCondition('BackoffLimitExceeded', 'Job has reached the specified backoff limit')), []))
      .toMatchObject({ reason: 'BackoffLimitExceeded: Job has reached the specified backoff limit', retryable: true });
  });

  it('a pending pod is starting, with what blocks it: image pull, unschedulable, config error', () => {
    const waiting = (reason: string, message: string) => ({
      phase: 'Pending', containerStatuses: [{ name: 'task', image: 'img:1', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason, message } } }],
    });
    expect(describeJob(job({ active: 1 }), [pod('p1', waiting('ImagePullBackOff', 'Back-off pulling image "img:1"'))]))
      .toMatchObject({ phase: 'starting', blockedBy: 'ImagePullBackOff: Back-off pulling image "img:1"', createdAt: new Date('2026-12-03T10:00:05Z') });
    expect(describeJob(job({ active: 1 }), [pod('p1', waiting('ContainerCreating', ''))])!.blockedBy).toBeUndefined();
    const unschedulable = { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available: 3 Insufficient memory.' }] };
    expect(describeJob(job({ active: 1 }), [pod('p1', unschedulable)])!.blockedBy).toBe('Unschedulable: 0/3 nodes are available: 3 Insufficient memory.');
  });

  it('running once a container runs; suspended while Kueue has not admitted it; starting while a replacement pod is due', () => {
    expect(describeJob(job({ active: 1 }), [pod('p1', { phase: 'Running' })])!.phase).toBe('running');
    expect(describeJob(job({}, { suspend: true }), [])).toMatchObject({ phase: 'starting', suspended: true });
    const ended = terminated(75);
    (ended.containerStatuses[0].state.terminated as { finishedAt?: Date }).finishedAt = new Date('2026-12-03T11:00:00Z');
    const replacementDue = describeJob(job({ active: 0, failed: 1 }), [pod('p1', ended)])!;
    expect(replacementDue).toMatchObject({ phase: 'starting', createdAt: new Date('2026-12-03T11:00:00Z') });
    expect(replacementDue.blockedBy).toBeUndefined();
  });
});

describe('retry schedules', () => {
  it('backoffSeconds doubles per failed attempt, with ±20 % jitter, capped', () => {
    const config = { retryBaseSeconds: 10, retryMaxSeconds: 600 };
    expect(backoffSeconds(config, 1, () => 0.5)).toBe(10);
    expect(backoffSeconds(config, 3, () => 0.5)).toBe(40);
    expect(backoffSeconds(config, 3, () => 0)).toBe(32);
    expect(backoffSeconds(config, 3, () => 1)).toBe(48);
    expect(backoffSeconds(config, 20, () => 0.5)).toBe(600);
  });

  it('retryDelayMs honours Retry-After, else grows exponentially from 200 ms, capped at 10 s', () => {
    expect(retryDelayMs(1, 2, () => 0)).toBe(2000);
    expect(retryDelayMs(1, undefined, () => 0.5)).toBe(200);
    expect(retryDelayMs(4, undefined, () => 0.5)).toBe(1600);
    expect(retryDelayMs(30, undefined, () => 0.5)).toBe(10_000);
    expect(retryDelayMs(1, 3600, () => 0)).toBe(10_000);
  });
});
