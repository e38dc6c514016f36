// The Job controller of the API server double: Jobs become pods (run by the kubelet), and
// pod outcomes become Job status the way Kubernetes' Job controller reports them.
import { Kubelet, type KubeletOptions } from './kubelet.js';
import type { Store } from './store.js';
import { clone, now, randomSuffix, type Json, type KObj } from './util.js';

export type { KubeletOptions } from './kubelet.js';

type FailureVerdict = 'Count' | 'Ignore' | { action: 'FailJob'; message: string };

const OWNER_LABEL = 'batch.kubernetes.io/controller-uid';

export class Cluster {
  /** Runs the pods. */
  readonly kubelet: Kubelet;
  private readonly jobTimers = new Map<string, NodeJS.Timeout[]>();
  private readonly verdicts = new Map<string, FailureVerdict>();
  private readonly lastFailure = new Map<string, number>();
  private readonly pending = new Set<string>();
  /** Pods of Jobs that ended (Succeeded/Failed, or deleted before that: counted as Failed), by pod uid. */
  private readonly terminal = new Map<string, { jobUid: string; pod: KObj }>();
  private stopped = false;

  constructor(private readonly store: Store, readonly opts: KubeletOptions) {
    this.kubelet = new Kubelet(store, opts, (...a) => this.recordEvent(...a));
    store.listeners.push((ev, old) => this.onChange(ev.resource, ev.type, ev.object, old));
  }

  // ---- events --------------------------------------------------------------------------------

  recordEvent(obj: KObj, type: 'Normal' | 'Warning', reason: string, message: string, component = 'kubelet'): void {
    if (this.stopped) return;
    const ts = now();
    this.store.create('events', {
      metadata: { name: `${obj.metadata.name}.${Date.now().toString(16)}${randomSuffix(4)}`, namespace: obj.metadata.namespace },
      involvedObject: { kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name, uid: obj.metadata.uid, apiVersion: obj.apiVersion, resourceVersion: obj.metadata.resourceVersion },
      reason, message, type, count: 1,
      source: { component, ...(component === 'kubelet' ? { host: this.opts.nodeName } : {}) },
      firstTimestamp: ts, lastTimestamp: ts, eventTime: null, reportingComponent: component, reportingInstance: component === 'kubelet' ? this.opts.nodeName : '',
    });
  }

  // ---- reactions to store changes ------------------------------------------------------------

  private onChange(resource: string, type: string, obj: KObj, old: KObj | undefined): void {
    if (this.stopped) return;
    if (resource === 'jobs') {
      if (type === 'DELETED') {
        this.clearJobTimers(obj.metadata.uid!);
        for (const [k, t] of this.terminal) if (t.jobUid === obj.metadata.uid) this.terminal.delete(k);
      }
      else this.kick(obj.metadata.namespace!, obj.metadata.name);
    } else if (resource === 'pods') {
      if (type === 'ADDED') setImmediate(() => this.kubelet.startPod(obj));
      if (type === 'DELETED') this.kubelet.cleanupPod(obj.metadata.uid!);
      const owner = obj.metadata.ownerReferences?.find((r: Json) => r.kind === 'Job' && r.controller);
      const isTerminal = (p: KObj | undefined): boolean => p?.status?.phase === 'Succeeded' || p?.status?.phase === 'Failed';
      if (owner && !this.terminal.has(obj.metadata.uid!)) {
        if (isTerminal(obj)) this.terminal.set(obj.metadata.uid!, { jobUid: owner.uid, pod: clone(obj) });
        else if (type === 'DELETED') {
          // With job tracking finalizers, a pod deleted before it ended counts as failed.
          const snap = clone(obj);
          snap.status = { ...(snap.status ?? {}), phase: 'Failed' };
          this.terminal.set(obj.metadata.uid!, { jobUid: owner.uid, pod: snap });
        }
      }
      const prevPhase = old?.status?.phase;
      if (owner && (type !== 'MODIFIED' || prevPhase !== obj.status?.phase || JSON.stringify(old?.status) !== JSON.stringify(obj.status))) {
        this.kick(obj.metadata.namespace!, owner.name);
      }
    }
  }

  /** Schedules a reconcile of a Job (coalesced). */
  kick(ns: string, name: string, delayMs = 0): void {
    const k = `${ns}/${name}`;
    if (delayMs > 0) {
      const t = setTimeout(() => this.kick(ns, name), delayMs);
      const job = this.store.get('jobs', ns, name);
      if (job) this.addJobTimer(job.metadata.uid!, t);
      return;
    }
    if (this.pending.has(k)) return;
    this.pending.add(k);
    setImmediate(() => {
      this.pending.delete(k);
      if (!this.stopped) this.reconcile(ns, name);
    });
  }

  private addJobTimer(uid: string, t: NodeJS.Timeout): void {
    const list = this.jobTimers.get(uid) ?? [];
    list.push(t);
    this.jobTimers.set(uid, list);
  }

  private clearJobTimers(uid: string): void {
    for (const t of this.jobTimers.get(uid) ?? []) clearTimeout(t);
    this.jobTimers.delete(uid);
  }

  // ---- the Job controller --------------------------------------------------------------------

  podsOf(job: KObj): KObj[] {
    return this.store.list('pods', job.metadata.namespace).filter((p) =>
      p.metadata.ownerReferences?.some((r: Json) => r.uid === job.metadata.uid) || p.metadata.labels?.[OWNER_LABEL] === job.metadata.uid);
  }

  private reconcile(ns: string, name: string): void {
    const job = this.store.get('jobs', ns, name);
    if (!job) return;
    const spec = job.spec ?? {};
    const conds: Json[] = job.status?.conditions ?? [];
    const has = (t: string): boolean => conds.some((c) => c.type === t && c.status === 'True');
    const pods = this.podsOf(job);

    if (job.metadata.deletionTimestamp) {
      // Foreground deletion: the Job goes once its pods are gone.
      if (pods.length === 0) this.store.remove('jobs', ns, name);
      return;
    }
    const finished = has('Complete') || has('Failed');
    if (finished) return;

    const active = pods.filter((p) => !p.metadata.deletionTimestamp && (p.status?.phase === 'Pending' || p.status?.phase === 'Running' || !p.status?.phase));
    const terminating = pods.filter((p) => p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
    const ended = [...this.terminal.values()].filter((t) => t.jobUid === job.metadata.uid).map((t) => t.pod);
    const succeeded = ended.filter((p) => p.status?.phase === 'Succeeded');
    const failedPods = ended.filter((p) => p.status?.phase === 'Failed');

    let failureTarget: { reason: string; message: string } | undefined;
    const ft = conds.find((c) => c.type === 'FailureTarget' && c.status === 'True');
    if (ft) failureTarget = { reason: ft.reason, message: ft.message };
    let counted = job.status?.failed ?? 0;
    for (const p of failedPods) {
      if (this.verdicts.has(p.metadata.uid!)) continue;
      const v = this.judge(job, p);
      this.verdicts.set(p.metadata.uid!, v);
      this.lastFailure.set(job.metadata.uid!, Date.now());
      if (v === 'Ignore') continue;
      counted++;
      if (typeof v === 'object' && !failureTarget) failureTarget = { reason: 'PodFailurePolicy', message: v.message };
    }
    const succeededCount = Math.max(job.status?.succeeded ?? 0, succeeded.length);
    const backoffLimit = spec.backoffLimit ?? 6;
    if (!failureTarget && counted > backoffLimit) failureTarget = { reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' };
    if (!failureTarget && spec.activeDeadlineSeconds !== undefined && job.status?.startTime && !spec.suspend) {
      const deadline = Date.parse(job.status.startTime) + spec.activeDeadlineSeconds * 1000;
      if (Date.now() >= deadline) failureTarget = { reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' };
    }
    const completions = spec.completions ?? 1;
    const successReached = !failureTarget && succeededCount >= completions;

    const status: Json = clone(job.status ?? {});
    const t = now();
    const setCond = (type: string, reason: string, message: string): void => {
      status.conditions = status.conditions ?? [];
      if (status.conditions.some((c: Json) => c.type === type)) return;
      status.conditions.push({ type, status: 'True', lastProbeTime: t, lastTransitionTime: t, reason, message });
    };

    if (failureTarget || successReached) {
      // Terminate what still runs, then finish once nothing is left running.
      for (const p of active) this.kubelet.deletePod(p.metadata.namespace!, p.metadata.name);
      if (failureTarget) setCond('FailureTarget', failureTarget.reason, failureTarget.message);
      else setCond('SuccessCriteriaMet', 'CompletionsReached', 'Reached expected number of succeeded pods');
      const stillRunning = active.length + terminating.length;
      if (stillRunning === 0) {
        if (failureTarget) {
          setCond('Failed', failureTarget.reason, failureTarget.message);
          this.recordEvent(job, 'Warning', failureTarget.reason, failureTarget.message, 'job-controller');
        } else {
          setCond('Complete', 'CompletionsReached', 'Reached expected number of succeeded pods');
          status.completionTime = t;
          this.recordEvent(job, 'Normal', 'Completed', 'Job completed', 'job-controller');
        }
        this.scheduleTtl(job, Date.now());
      }
    } else if (spec.suspend) {
      const sc = status.conditions?.find((c: Json) => c.type === 'Suspended');
      if (!sc || sc.status !== 'True') {
        status.conditions = (status.conditions ?? []).filter((c: Json) => c.type !== 'Suspended');
        status.conditions.push({ type: 'Suspended', status: 'True', lastProbeTime: t, lastTransitionTime: t, reason: 'JobSuspended', message: 'Job suspended' });
        this.recordEvent(job, 'Normal', 'Suspended', 'Job suspended', 'job-controller');
      }
    } else {
      const sc = status.conditions?.find((c: Json) => c.type === 'Suspended' && c.status === 'True');
      if (sc) {
        Object.assign(sc, { status: 'False', lastProbeTime: t, lastTransitionTime: t, reason: 'JobResumed', message: 'Job resumed' });
        this.recordEvent(job, 'Normal', 'Resumed', 'Job resumed', 'job-controller');
        delete status.startTime; // Kubernetes resets startTime on resume
      }
      if (!status.startTime) {
        status.startTime = t;
        if (spec.activeDeadlineSeconds !== undefined) {
          this.addJobTimer(job.metadata.uid!, setTimeout(() => this.kick(ns, name), spec.activeDeadlineSeconds * 1000 + 5));
        }
      }
      const parallelism = spec.parallelism ?? 1;
      const want = Math.max(0, Math.min(parallelism, completions - succeededCount) - active.length - terminating.length);
      if (want > 0) {
        const since = Date.now() - (this.lastFailure.get(job.metadata.uid!) ?? 0);
        if (since < this.opts.podRetryDelayMs) this.kick(ns, name, this.opts.podRetryDelayMs - since + 1);
        else for (let i = 0; i < want; i++) this.createPod(job);
      }
    }
    const activeNow = this.podsOf(job).filter((p) => !p.metadata.deletionTimestamp && (p.status?.phase === 'Pending' || p.status?.phase === 'Running' || !p.status?.phase));
    status.active = activeNow.length;
    status.ready = activeNow.filter((p) => p.status?.conditions?.some((c: Json) => c.type === 'Ready' && c.status === 'True')).length;
    status.terminating = this.podsOf(job).filter((p) => p.metadata.deletionTimestamp).length;
    status.succeeded = succeededCount;
    status.failed = counted;
    for (const k of ['active', 'succeeded', 'failed'] as const) if (status[k] === 0) delete status[k];
    this.store.mutate('jobs', ns, name, (j) => { j.status = status; });
  }

  private judge(job: KObj, pod: KObj): FailureVerdict {
    const rules: Json[] = job.spec?.podFailurePolicy?.rules ?? [];
    const cs: Json[] = pod.status?.containerStatuses ?? [];
    for (const [i, rule] of rules.entries()) {
      const action = rule.action as string;
      if (rule.onExitCodes) {
        const { containerName, operator, values } = rule.onExitCodes;
        for (const c of cs) {
          if (containerName && c.name !== containerName) continue;
          const code = c.state?.terminated?.exitCode;
          if (code === undefined || code === 0) continue;
          const inList = (values as number[]).includes(code);
          if (operator === 'In' ? inList : !inList) {
            if (action === 'FailJob') return { action: 'FailJob', message: `Container ${c.name} for pod ${pod.metadata.namespace}/${pod.metadata.name} failed with exit code ${code} matching FailJob rule at index ${i}` };
            return action === 'Ignore' ? 'Ignore' : 'Count';
          }
        }
      }
      if (rule.onPodConditions) {
        for (const pc of rule.onPodConditions as Json[]) {
          const want = pc.status ?? 'True';
          if (pod.status?.conditions?.some((c: Json) => c.type === pc.type && c.status === want)) {
            if (action === 'FailJob') return { action: 'FailJob', message: `Pod ${pod.metadata.namespace}/${pod.metadata.name} has condition ${pc.type} matching FailJob rule at index ${i}` };
            return action === 'Ignore' ? 'Ignore' : 'Count';
          }
        }
      }
    }
    return 'Count';
  }

  private scheduleTtl(job: KObj, finishedAt: number): void {
    const ttl = job.spec?.ttlSecondsAfterFinished;
    if (ttl === undefined || ttl === null) return;
    const ns = job.metadata.namespace!, name = job.metadata.name, uid = job.metadata.uid!;
    const t = setTimeout(() => {
      const cur = this.store.get('jobs', ns, name);
      if (cur && cur.metadata.uid === uid) this.deleteJob(ns, name, 'Background');
    }, Math.max(0, finishedAt + ttl * 1000 - Date.now()));
    this.addJobTimer(uid, t);
  }

  private createPod(job: KObj): void {
    const tmpl = clone(job.spec.template ?? {});
    const name = `${job.metadata.name}-${randomSuffix()}`;
    const uid = job.metadata.uid!;
    const pod: KObj = {
      metadata: {
        ...(tmpl.metadata ?? {}),
        name, generateName: `${job.metadata.name}-`, namespace: job.metadata.namespace,
        labels: {
          ...(tmpl.metadata?.labels ?? {}),
          [OWNER_LABEL]: uid, 'batch.kubernetes.io/job-name': job.metadata.name, 'controller-uid': uid, 'job-name': job.metadata.name,
        },
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: job.metadata.name, uid, controller: true, blockOwnerDeletion: true }],
        finalizers: ['batch.kubernetes.io/job-tracking'],
      },
      spec: { terminationGracePeriodSeconds: 30, restartPolicy: 'Never', ...tmpl.spec },
      status: { phase: 'Pending', qosClass: 'BestEffort' },
    };
    this.store.create('pods', pod);
    this.recordEvent(job, 'Normal', 'SuccessfulCreate', `Created pod: ${name}`, 'job-controller');
  }

  resumeJob(ns: string, name: string): KObj | undefined {
    return this.store.mutate('jobs', ns, name, (j) => { j.spec.suspend = false; });
  }

  /** Deletes a Job with a propagation policy (Kubernetes' default for Jobs is Orphan). */
  deleteJob(ns: string, name: string, policy: string, gracePeriodSeconds?: number): KObj | undefined {
    const job = this.store.get('jobs', ns, name);
    if (!job) return undefined;
    const pods = this.podsOf(job);
    if (policy === 'Foreground') {
      const j = this.store.mutate('jobs', ns, name, (o) => {
        o.metadata.deletionTimestamp = o.metadata.deletionTimestamp ?? now();
        o.metadata.deletionGracePeriodSeconds = 0;
        o.metadata.finalizers = [...new Set([...(o.metadata.finalizers ?? []), 'foregroundDeletion'])];
      });
      for (const p of pods) this.kubelet.deletePod(ns, p.metadata.name, gracePeriodSeconds);
      this.kick(ns, name);
      return j;
    }
    const removed = this.store.remove('jobs', ns, name);
    for (const p of pods) {
      if (policy === 'Orphan') {
        this.store.mutate('pods', ns, p.metadata.name, (o) => {
          o.metadata.ownerReferences = (o.metadata.ownerReferences ?? []).filter((r: Json) => r.uid !== job.metadata.uid);
          o.metadata.finalizers = (o.metadata.finalizers ?? []).filter((f) => f !== 'batch.kubernetes.io/job-tracking');
        });
      } else this.kubelet.deletePod(ns, p.metadata.name, gracePeriodSeconds);
    }
    return removed;
  }

  // ---- the kubelet's side, for the API and the tests ------------------------------------------

  deletePod(ns: string, name: string, gracePeriodSeconds?: number): KObj | undefined { return this.kubelet.deletePod(ns, name, gracePeriodSeconds); }
  evictPod(ns: string, name: string): void { this.kubelet.evictPod(ns, name); }
  killPod(ns: string, name: string, signal?: NodeJS.Signals): void { this.kubelet.killPod(ns, name, signal); }
  logs(ns: string, name: string): { text?: string; code?: number; message?: string } { return this.kubelet.logs(ns, name); }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const ts of this.jobTimers.values()) for (const t of ts) clearTimeout(t);
    await this.kubelet.stop();
  }
}
