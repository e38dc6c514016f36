// The kubelet of the API server double: each pod's main container runs as a local process
// (image → entrypoint, env and secrets, volumes as host directories, memory limit, logs), and
// its status is reported the way Kubernetes reports it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from './store.js';
import { now, parseQuantity, type Json, type KObj } from './util.js';

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

export type RecordEvent = (obj: KObj, type: 'Normal' | 'Warning', reason: string, message: string, component?: string) => void;

export class Kubelet {
  /** Runtime state of pods by uid (the log lives here until the pod object is deleted). */
  private readonly runtime = new Map<string, Running>();
  private stopped = false;

  constructor(private readonly store: Store, readonly opts: KubeletOptions, private readonly recordEvent: RecordEvent) {}

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

  startPod(podObj: KObj): void {
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
    const freshVolumes = new Set<string>();
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
        freshVolumes.add(v.name);
      }
    }
    const mounts = ((c.volumeMounts ?? []) as Json[])
      .filter((m) => volumeDirs[m.name])
      .map((m) => ({ path: String(m.mountPath).replace(/\/+$/, ''), host: join(volumeDirs[m.name], m.subPath ?? ''), fresh: freshVolumes.has(m.name) }))
      .sort((a, b) => b.path.length - a.path.length);
    // A fresh volume (emptyDir) starts empty: a value naming something that exists on the host
    // under its mount path (a checkout in /tmp, with /tmp mounted) is a host path, left alone.
    const rewrite = (s: string): string => {
      const eq = s.indexOf('=');
      if (eq > 0 && s.startsWith('-')) return s.slice(0, eq + 1) + rewrite(s.slice(eq + 1));
      for (const m of mounts) {
        if (s !== m.path && !s.startsWith(m.path + '/')) continue;
        if (m.fresh && s !== m.path && existsSync(s)) return s;
        return m.host + s.slice(m.path.length);
      }
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
    // The pod spec's own command and args see the mounts; the image's entrypoint is a host path
    // (e.g. /tmp/checkout/dist/taskpod.js) that a mount at /tmp must not capture.
    const expand = (a: string) => rewrite(String(a).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v) => env[v] ?? m));
    const argv = [...(c.command ? c.command.map(expand) : image.entrypoint), ...(c.args ?? []).map(expand)];
    const cwd = this.tempDir(r, 'cwd-');
    const limit = c.resources?.limits?.memory !== undefined ? parseQuantity(c.resources.limits.memory) : undefined;

    const p0 = this.store.get('pods', r.pod.ns, r.pod.name)!;
    this.recordEvent(p0, 'Normal', 'Pulled', `Container image "${c.image}" already present on machine`);
    this.recordEvent(p0, 'Normal', 'Created', `Created container ${c.name}`);
    let child: ChildProcess;
    try {
      // Its own process group: signals go to every process of the "container", like a PID namespace.
      child = spawn(argv[0], argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
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
    // When the main process ends, the container ends: what it left behind is killed, so that
    // its stdout/stderr close.
    child.on('exit', () => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* group gone */ } });
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
            signalGroup(child, 'SIGKILL');
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

  cleanupPod(uid: string): void {
    const r = this.runtime.get(uid);
    if (!r) return;
    for (const t of r.timers) clearTimeout(t);
    if (r.child && !r.exited) signalGroup(r.child, 'SIGKILL');
    for (const d of r.tempDirs) rmSync(d, { recursive: true, force: true });
    this.runtime.delete(uid);
  }

  /** Deletes a pod gracefully: SIGTERM now, SIGKILL after the grace period, the object goes when the process is gone. */
  deletePod(ns: string, name: string, gracePeriodSeconds?: number): KObj | undefined {
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
    if (graceSeconds <= 0) { signalGroup(r.child, 'SIGKILL'); return; }
    signalGroup(r.child, 'SIGTERM');
    r.timers.push(setTimeout(() => { if (!r.exited) signalGroup(r.child!, 'SIGKILL'); }, graceSeconds * 1000));
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
    signalGroup(r.child, signal);
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

  async stop(): Promise<void> {
    this.stopped = true;
    const waits: Promise<void>[] = [];
    for (const r of this.runtime.values()) {
      for (const t of r.timers) clearTimeout(t);
      if (r.child && !r.exited && r.child.exitCode === null && r.child.signalCode === null) {
        waits.push(new Promise((res) => { r.child!.once('exit', () => res()); setTimeout(res, 2000); }));
        signalGroup(r.child, 'SIGKILL');
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

/** Signals the process group of a pod's main process (falling back to the process alone). */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid) { process.kill(-child.pid, signal); return; }
  } catch { /* no group */ }
  try { child.kill(signal); } catch { /* gone */ }
}
