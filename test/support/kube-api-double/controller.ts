// The Job controller and the kubelet of the API server double: Jobs become pods, pods become
// local processes, and their fate is reported the way Kubernetes reports it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants as osConstants } from 'node:os';
import type { Store } from './store.js';
import { clone, now, parseQuantity, randomSuffix, type Json, type KObj } from './util.js';

export interface KubeletOptions {
  images: Record<string, { entrypoint: string[] }>;
  volumes: Record<string, string>;
  env: Record<string, string>;
  nodeLabels: Record<string, string>;
  nodeName: string;
  podRetryDelayMs: number;
  imagePullBackOffDelayMs: number;
  memoryPollMs: number;
  maxLogBytes: number;
}

interface Running {
  pod: { ns: string; name: string; uid: string };
  child?: ChildProcess;
  logs: string;
  oomKilled: boolean;
  evicted: boolean;
  tempDirs: string[];
  timers: NodeJS.Timeout[];
  exited: boolean;
  /** Set when the pod is deleted: remove it from the store once the process is gone. */
  removeOnExit: boolean;
}

type FailureVerdict = 'Count' | 'Ignore' | { action: 'FailJob'; message: string };

const OWNER_LABEL = 'batch.kubernetes.io/controller-uid';

export class Cluster {
  /** Runtime state of pods by uid. */
  private readonly runtime = new Map<string, Running>();
  /** Logs survive until the pod object is deleted: pod uid → text. */
  private readonly jobTimers = new Map<string, NodeJS.Timeout[]>();
  private readonly verdicts = new Map<string, FailureVerdict>();
  private readonly lastFailure = new Map<string, number>();
  private readonly pending = new Set<string>();
  /** Pods of Jobs that ended (Succeeded/Failed, or deleted before that: counted as Failed), by pod uid. */
  private readonly terminal = new Map<string, { jobUid: string; pod: KObj }>();
  private stopped = false;

  constructor(private readonly store: Store, readonly opts: KubeletOptions) {
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
      if (type === 'ADDED') setImmediate(() => this.startPod(obj));
      if (type === 'DELETED') this.cleanupPod(obj.metadata.uid!);
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
      for (const p of active) this.deletePod(p.metadata.namespace!, p.metadata.name, undefined, 'job');
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
      for (const p of pods) this.deletePod(ns, p.metadata.name, gracePeriodSeconds, 'gc');
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
      } else this.deletePod(ns, p.metadata.name, gracePeriodSeconds, 'gc');
    }
    return removed;
  }

  // ---- the kubelet ---------------------------------------------------------------------------

  private rt(pod: KObj): Running {
    let r = this.runtime.get(pod.metadata.uid!);
    if (!r) {
      r = { pod: { ns: pod.metadata.namespace!, name: pod.metadata.name, uid: pod.metadata.uid! }, logs: '', oomKilled: false, evicted: false, tempDirs: [], timers: [], exited: false, removeOnExit: false };
      this.runtime.set(pod.metadata.uid!, r);
    }
    return r;
  }

  private patchPod(r: Running, fn: (p: KObj) => void): KObj | undefined {
    const cur = this.store.get('pods', r.pod.ns, r.pod.name);
    if (!cur || cur.metadata.uid !== r.pod.uid) return undefined;
    return this.store.mutate('pods', r.pod.ns, r.pod.name, fn);
  }

  private setCondition(p: KObj, type: string, status: string, reason?: string, message?: string): void {
    p.status.conditions = p.status.conditions ?? [];
    const existing = p.status.conditions.find((c: Json) => c.type === type);
    const c: Json = { type, status, lastProbeTime: null, lastTransitionTime: existing?.status === status ? existing.lastTransitionTime : now() };
    if (reason) c.reason = reason;
    if (message) c.message = message;
    if (existing) Object.assign(existing, c); else p.status.conditions.push(c);
  }

  private waiting(r: Running, reason: string, message?: string): void {
    this.patchPod(r, (p) => {
      const c = p.spec.containers[0];
      p.status.phase = 'Pending';
      this.setCondition(p, 'Ready', 'False', 'ContainersNotReady', `containers with unready status: [${c.name}]`);
      this.setCondition(p, 'ContainersReady', 'False', 'ContainersNotReady', `containers with unready status: [${c.name}]`);
      p.status.containerStatuses = [{
        name: c.name, image: c.image, imageID: '', ready: false, restartCount: 0, started: false,
        state: { waiting: message ? { reason, message } : { reason } }, lastState: {},
      }];
    });
  }

  private startPod(podObj: KObj): void {
    if (this.stopped) return;
    const pod = this.store.get('pods', podObj.metadata.namespace, podObj.metadata.name);
    if (!pod || pod.metadata.uid !== podObj.metadata.uid || pod.metadata.deletionTimestamp) return;
    const r = this.rt(pod);
    const containers: Json[] = pod.spec?.containers ?? [];
    const c = containers[0];
    // Scheduling.
    const sel: Record<string, string> = pod.spec?.nodeSelector ?? {};
    if (!Object.entries(sel).every(([k, v]) => this.opts.nodeLabels[k] === v)) {
      const msg = "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.";
      const msgShort = "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.";
      const p = this.patchPod(r, (o) => {
        o.status.phase = 'Pending';
        this.setCondition(o, 'PodScheduled', 'False', 'Unschedulable', msgShort);
      });
      if (p) this.recordEvent(p, 'Warning', 'FailedScheduling', msg, 'default-scheduler');
      return;
    }
    const ts = now();
    const scheduled = this.patchPod(r, (o) => {
      o.spec.nodeName = this.opts.nodeName;
      o.status.phase = 'Pending';
      o.status.hostIP = '10.0.0.1';
      o.status.startTime = ts;
      this.setCondition(o, 'PodScheduled', 'True');
      this.setCondition(o, 'Initialized', 'True');
      this.setCondition(o, 'Ready', 'False', 'ContainersNotReady', `containers with unready status: [${c?.name}]`);
      this.setCondition(o, 'ContainersReady', 'False', 'ContainersNotReady', `containers with unready status: [${c?.name}]`);
      o.status.containerStatuses = containers.map((cc) => ({ name: cc.name, image: cc.image, imageID: '', ready: false, restartCount: 0, started: false, state: { waiting: { reason: 'ContainerCreating' } }, lastState: {} }));
    });
    if (!scheduled) return;
    this.recordEvent(scheduled, 'Normal', 'Scheduled', `Successfully assigned ${pod.metadata.namespace}/${pod.metadata.name} to ${this.opts.nodeName}`, 'default-scheduler');
    if (!c) return;

    // Volumes.
    const volumeDirs: Record<string, string> = {};
    for (const v of (pod.spec.volumes ?? []) as Json[]) {
      if (v.persistentVolumeClaim) {
        const dir = this.opts.volumes[v.persistentVolumeClaim.claimName];
        if (!dir) {
          this.recordEvent(scheduled, 'Warning', 'FailedMount', `MountVolume.SetUp failed for volume "${v.name}" : persistentvolumeclaim "${v.persistentVolumeClaim.claimName}" not found`);
          return;
        }
        volumeDirs[v.name] = dir;
      } else if (v.secret) {
        const s = this.store.get('secrets', pod.metadata.namespace, v.secret.secretName);
        if (!s && !v.secret.optional) {
          this.recordEvent(scheduled, 'Warning', 'FailedMount', `MountVolume.SetUp failed for volume "${v.name}" : secret "${v.secret.secretName}" not found`);
          return;
        }
        const dir = this.tempDir(r, 'secret-');
        for (const [k, val] of Object.entries(secretData(s))) writeFileSync(join(dir, k), val);
        volumeDirs[v.name] = dir;
      } else {
        volumeDirs[v.name] = this.tempDir(r, 'vol-');
      }
    }
    const mounts = ((c.volumeMounts ?? []) as Json[])
      .filter((m) => volumeDirs[m.name])
      .map((m) => ({ path: String(m.mountPath).replace(/\/+$/, ''), host: join(volumeDirs[m.name], m.subPath ?? '') }))
      .sort((a, b) => b.path.length - a.path.length);
    const rewrite = (s: string): string => {
      const eq = s.indexOf('=');
      if (eq > 0 && s.startsWith('-')) return s.slice(0, eq + 1) + rewrite(s.slice(eq + 1));
      for (const m of mounts) if (s === m.path || s.startsWith(m.path + '/')) return m.host + s.slice(m.path.length);
      return s;
    };

    // Image.
    const image = this.opts.images[c.image];
    if (!image) {
      const p = this.store.get('pods', r.pod.ns, r.pod.name)!;
      this.recordEvent(p, 'Normal', 'Pulling', `Pulling image "${c.image}"`);
      this.recordEvent(p, 'Warning', 'Failed', `Failed to pull image "${c.image}": rpc error: code = NotFound desc = failed to pull and unpack image "${c.image}": not found`);
      this.recordEvent(p, 'Warning', 'Failed', 'Error: ErrImagePull');
      this.waiting(r, 'ErrImagePull', `rpc error: code = NotFound desc = failed to pull and unpack image "${c.image}": not found`);
      r.timers.push(setTimeout(() => {
        this.waiting(r, 'ImagePullBackOff', `Back-off pulling image "${c.image}"`);
        const p2 = this.store.get('pods', r.pod.ns, r.pod.name);
        if (p2) {
          this.recordEvent(p2, 'Normal', 'BackOff', `Back-off pulling image "${c.image}"`);
          this.recordEvent(p2, 'Warning', 'Failed', 'Error: ImagePullBackOff');
        }
      }, this.opts.imagePullBackOffDelayMs));
      return;
    }

    // Environment.
    const env: Record<string, string> = {};
    if (process.env.PATH) env.PATH = process.env.PATH;
    if (process.env.HOME) env.HOME = process.env.HOME;
    env.HOSTNAME = pod.metadata.name;
    Object.assign(env, this.opts.env);
    for (const e of (c.env ?? []) as Json[]) {
      if (e.value !== undefined) env[e.name] = rewrite(String(e.value).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v) => env[v] ?? m));
      else if (e.valueFrom?.secretKeyRef) {
        const { name: sname, key, optional } = e.valueFrom.secretKeyRef;
        const s = this.store.get('secrets', pod.metadata.namespace, sname);
        let err: string | undefined;
        if (!s) err = `secret "${sname}" not found`;
        else if (!(key in secretData(s))) err = `couldn't find key ${key} in Secret ${pod.metadata.namespace}/${sname}`;
        if (err && optional) continue;
        if (err) {
          this.waiting(r, 'CreateContainerConfigError', err);
          const p = this.store.get('pods', r.pod.ns, r.pod.name);
          if (p) this.recordEvent(p, 'Warning', 'Failed', `Error: ${err}`);
          return;
        }
        env[e.name] = rewrite(secretData(s)[key]);
      } else if (e.valueFrom?.fieldRef) {
        const path = e.valueFrom.fieldRef.fieldPath as string;
        const values: Record<string, string | undefined> = {
          'metadata.name': pod.metadata.name, 'metadata.namespace': pod.metadata.namespace, 'metadata.uid': pod.metadata.uid,
          'spec.nodeName': this.opts.nodeName, 'spec.serviceAccountName': pod.spec.serviceAccountName ?? 'default', 'status.hostIP': '10.0.0.1', 'status.podIP': '10.1.0.1',
        };
        const lm = path.match(/^metadata\.(labels|annotations)\['(.+)'\]$/);
        env[e.name] = (lm ? pod.metadata[lm[1] as 'labels' | 'annotations']?.[lm[2]] : values[path]) ?? '';
      }
    }
    const argv = [...(c.command ?? image.entrypoint), ...(c.args ?? [])].map((a: string) =>
      rewrite(String(a).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v) => env[v] ?? m)));
    const cwd = this.tempDir(r, 'cwd-');
    const limit = c.resources?.limits?.memory !== undefined ? parseQuantity(c.resources.limits.memory) : undefined;

    const p0 = this.store.get('pods', r.pod.ns, r.pod.name)!;
    this.recordEvent(p0, 'Normal', 'Pulled', `Container image "${c.image}" already present on machine`);
    this.recordEvent(p0, 'Normal', 'Created', `Created container ${c.name}`);
    let child: ChildProcess;
    try {
      child = spawn(argv[0], argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      this.finish(r, 128, 'StartError', String(e));
      return;
    }
    r.child = child;
    const onData = (b: Buffer): void => {
      r.logs += b.toString('utf8');
      if (r.logs.length > this.opts.maxLogBytes) r.logs = r.logs.slice(r.logs.length - this.opts.maxLogBytes);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    let spawnError: Error | undefined;
    child.on('error', (e) => { spawnError = e; });
    child.on('close', (code, signal) => {
      if (spawnError && code === null && signal === null) { this.finish(r, 128, 'StartError', `failed to create containerd task: exec: "${argv[0]}": ${spawnError.message}`); return; }
      const exitCode = code ?? 128 + (signal ? osConstants.signals[signal] ?? 9 : 9);
      this.finish(r, exitCode, r.oomKilled ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error');
    });
    child.on('spawn', () => {
      const startedAt = now();
      this.recordEvent(this.store.get('pods', r.pod.ns, r.pod.name) ?? p0, 'Normal', 'Started', `Started container ${c.name}`);
      this.patchPod(r, (o) => {
        if (o.status.phase !== 'Pending') return;
        o.status.phase = 'Running';
        o.status.podIP = '10.1.0.1';
        o.status.podIPs = [{ ip: '10.1.0.1' }];
        this.setCondition(o, 'PodReadyToStartContainers', 'True');
        this.setCondition(o, 'Ready', 'True');
        this.setCondition(o, 'ContainersReady', 'True');
        o.status.containerStatuses = [{ name: c.name, image: c.image, imageID: `docker.io/library/${c.image}@sha256:0`, containerID: `containerd://${child.pid}`, ready: true, restartCount: 0, started: true, state: { running: { startedAt } }, lastState: {} }];
      });
      if (limit !== undefined && child.pid) {
        const pid = child.pid;
        const iv = setInterval(() => {
          if (r.exited) { clearInterval(iv); return; }
          let rss: number | undefined;
          try {
            const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)\s+kB/m);
            if (m) rss = Number(m[1]) * 1024;
          } catch { /* gone */ }
          if (rss !== undefined && rss > limit) {
            r.oomKilled = true;
            clearInterval(iv);
            child.kill('SIGKILL');
          }
        }, this.opts.memoryPollMs);
        r.timers.push(iv as unknown as NodeJS.Timeout);
      }
    });
  }

  private finish(r: Running, exitCode: number, reason: string, message?: string): void {
    if (r.exited) return;
    r.exited = true;
    for (const t of r.timers) clearTimeout(t);
    const finishedAt = now();
    this.patchPod(r, (o) => {
      const c = o.spec.containers[0];
      const prev = o.status.containerStatuses?.[0];
      const startedAt = prev?.state?.running?.startedAt ?? finishedAt;
      o.status.phase = exitCode === 0 ? 'Succeeded' : 'Failed';
      const condReason = exitCode === 0 ? 'PodCompleted' : 'PodFailed';
      this.setCondition(o, 'PodReadyToStartContainers', 'False');
      this.setCondition(o, 'Ready', 'False', condReason);
      this.setCondition(o, 'ContainersReady', 'False', condReason);
      const terminated: Json = { exitCode, reason, startedAt, finishedAt, containerID: prev?.containerID ?? 'containerd://0' };
      if (message) terminated.message = message;
      o.status.containerStatuses = [{ name: c.name, image: c.image, imageID: prev?.imageID ?? '', containerID: prev?.containerID, ready: false, restartCount: 0, started: false, state: { terminated }, lastState: {} }];
      if (r.evicted) {
        o.status.phase = 'Failed';
        o.status.reason = 'Evicted';
        o.status.message = 'The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi.';
      }
    });
    if (r.removeOnExit) this.store.remove('pods', r.pod.ns, r.pod.name);
  }

  private tempDir(r: Running, prefix: string): string {
    const d = mkdtempSync(join(tmpdir(), `kube-double-${prefix}`));
    r.tempDirs.push(d);
    return d;
  }

  private cleanupPod(uid: string): void {
    const r = this.runtime.get(uid);
    if (!r) return;
    for (const t of r.timers) clearTimeout(t);
    if (r.child && !r.exited) r.child.kill('SIGKILL');
    for (const d of r.tempDirs) rmSync(d, { recursive: true, force: true });
    this.runtime.delete(uid);
  }

  /** Deletes a pod gracefully: SIGTERM now, SIGKILL after the grace period, the object goes when the process is gone. */
  deletePod(ns: string, name: string, gracePeriodSeconds?: number, _by?: string): KObj | undefined {
    const pod = this.store.get('pods', ns, name);
    if (!pod) return undefined;
    const r = this.runtime.get(pod.metadata.uid!);
    const running = r?.child && !r.exited;
    if (!running) return this.store.remove('pods', ns, name);
    if (pod.metadata.deletionTimestamp && gracePeriodSeconds === undefined) return pod;
    const grace = gracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
    r.removeOnExit = true;
    const marked = this.store.mutate('pods', ns, name, (o) => {
      o.metadata.deletionTimestamp = now();
      o.metadata.deletionGracePeriodSeconds = grace;
    });
    this.terminate(r, grace);
    this.recordEvent(marked ?? pod, 'Normal', 'Killing', `Stopping container ${pod.spec.containers[0]?.name}`);
    return marked;
  }

  private terminate(r: Running, graceSeconds: number): void {
    if (!r.child || r.exited) return;
    if (graceSeconds <= 0) { r.child.kill('SIGKILL'); return; }
    r.child.kill('SIGTERM');
    r.timers.push(setTimeout(() => { if (!r.exited) r.child!.kill('SIGKILL'); }, graceSeconds * 1000));
  }

  evictPod(ns: string, name: string): void {
    const pod = this.store.get('pods', ns, name);
    if (!pod) throw new Error(`no pod ${ns}/${name}`);
    const r = this.rt(pod);
    r.evicted = true;
    this.patchPod(r, (o) => this.setCondition(o, 'DisruptionTarget', 'True', 'EvictionByEvictionAPI', 'Eviction API: evicting'));
    if (r.child && !r.exited) this.terminate(r, pod.spec?.terminationGracePeriodSeconds ?? 30);
    else this.finish(r, 137, 'Error');
  }

  killPod(ns: string, name: string, signal: NodeJS.Signals = 'SIGKILL'): void {
    const pod = this.store.get('pods', ns, name);
    const r = pod && this.runtime.get(pod.metadata.uid!);
    if (!r?.child || r.exited) throw new Error(`pod ${ns}/${name} has no running process`);
    r.child.kill(signal);
  }

  /** The log of a pod, or an error message (404/400) for the API. */
  logs(ns: string, name: string): { text?: string; code?: number; message?: string } {
    const pod = this.store.get('pods', ns, name);
    if (!pod) return { code: 404, message: `pods "${name}" not found` };
    const r = this.runtime.get(pod.metadata.uid!);
    const cs = pod.status?.containerStatuses?.[0];
    const c = pod.spec?.containers?.[0];
    if (!r?.child) {
      const w = cs?.state?.waiting?.reason ?? 'ContainerCreating';
      const why = w === 'ImagePullBackOff' || w === 'ErrImagePull' ? 'trying and failing to pull image' : w;
      return { code: 400, message: `container "${c?.name}" in pod "${name}" is waiting to start: ${why}` };
    }
    return { text: r.logs };
  }

  pidOf(ns: string, name: string): number | undefined {
    const pod = this.store.get('pods', ns, name);
    return pod ? this.runtime.get(pod.metadata.uid!)?.child?.pid : undefined;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const ts of this.jobTimers.values()) for (const t of ts) clearTimeout(t);
    const waits: Promise<void>[] = [];
    for (const r of this.runtime.values()) {
      for (const t of r.timers) clearTimeout(t);
      if (r.child && !r.exited && r.child.exitCode === null && r.child.signalCode === null) {
        waits.push(new Promise((res) => { r.child!.once('exit', () => res()); setTimeout(res, 2000); }));
        r.child.kill('SIGKILL');
      }
    }
    await Promise.all(waits);
    for (const r of this.runtime.values()) for (const d of r.tempDirs) rmSync(d, { recursive: true, force: true });
    this.runtime.clear();
  }
}

export function secretData(s: KObj | undefined): Record<string, string> {
  if (!s) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries((s.data ?? {}) as Record<string, string>)) out[k] = Buffer.from(v, 'base64').toString('utf8');
  for (const [k, v] of Object.entries((s.stringData ?? {}) as Record<string, string>)) out[k] = v;
  return out;
}
