// A Kubernetes API server double at the HTTP wire, for @kubernetes/client-node: an object
// store with resourceVersions and watches, a Job controller and a kubelet that runs each pod
// as a local process, and per-test fault injection. See test/kube-api-double.test.ts.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { Cluster } from './kube-api-double/controller.js';
import { Store, type WatchSink } from './kube-api-double/store.js';
import {
  alreadyExists, clone, invalid, mergePatch, newUid, notFound, parseFieldSelector, parseLabelSelector, qualified, randomSuffix,
  RESOURCES, SelectorError, statusBody, successStatus, validateLabelName, type Json, type KObj, type ResourceInfo, type StatusCause,
} from './kube-api-double/util.js';

export type { KObj } from './kube-api-double/util.js';

export interface KubeApiDoubleOptions {
  /** Image → entrypoint; the process is `entrypoint ++ args` (or `command ++ args`). Unknown images never pull. */
  images?: Record<string, { entrypoint: string[] }>;
  /** PVC claim name → host directory. */
  volumes?: Record<string, string>;
  /** Environment given to every process (besides PATH and HOME, nothing else is inherited). */
  env?: Record<string, string>;
  /** Labels of the single node (default `{'kubernetes.io/os': 'linux'}`). */
  nodeLabels?: Record<string, string>;
  /** Delay applied to every request. */
  latencyMs?: number;
  /** Period of BOOKMARK events on watches that asked for them (default 1000 ms). */
  bookmarkIntervalMs?: number;
  /** How many store events watches can resume from (default 1000). */
  watchHistorySize?: number;
  /** Delay before a failed pod is replaced (default 100 ms). */
  podRetryDelayMs?: number;
  /** ErrImagePull turns into ImagePullBackOff after this (default 200 ms). */
  imagePullBackOffDelayMs?: number;
  /** How often the memory limit is checked (default 25 ms). */
  memoryPollMs?: number;
}

export interface RequestRecord { method: string; path: string; query: Record<string, string>; status: number; time: number; watch: boolean }
export interface FaultMatch { method?: string; path?: RegExp }
interface Fault extends FaultMatch { remaining: number; kind: 'fail' | 'hang'; status?: number }

interface OpenWatch { res: ServerResponse; sink: WatchSink; timers: NodeJS.Timeout[]; end(): void }

export class KubeApiDouble {
  readonly store: Store;
  readonly cluster: Cluster;
  readonly requests: RequestRecord[] = [];
  latencyMs: number;
  private server?: Server;
  private port = 0;
  private readonly sockets = new Set<Socket>();
  private readonly watches = new Set<OpenWatch>();
  private readonly hung = new Set<ServerResponse>();
  private faults: Fault[] = [];
  private readonly created: string[] = [];
  private readonly bookmarkIntervalMs: number;

  constructor(opts: KubeApiDoubleOptions = {}) {
    this.store = new Store(opts.watchHistorySize ?? 1000);
    this.latencyMs = opts.latencyMs ?? 0;
    this.bookmarkIntervalMs = opts.bookmarkIntervalMs ?? 1000;
    this.cluster = new Cluster(this.store, {
      images: opts.images ?? {},
      volumes: opts.volumes ?? {},
      env: opts.env ?? {},
      nodeLabels: opts.nodeLabels ?? { 'kubernetes.io/os': 'linux' },
      nodeName: 'double-node',
      podRetryDelayMs: opts.podRetryDelayMs ?? 100,
      imagePullBackOffDelayMs: opts.imagePullBackOffDelayMs ?? 200,
      memoryPollMs: opts.memoryPollMs ?? 25,
      maxLogBytes: 10 * 1024 * 1024,
    });
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  async start(): Promise<this> {
    const server = createServer((req, res) => { void this.handle(req, res); });
    server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  get url(): string { return `http://127.0.0.1:${this.port}`; }

  /** Options for `KubeConfig.loadFromOptions`. */
  kubeconfigOptions(namespace = 'default'): Json {
    return {
      clusters: [{ name: 'double', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'double', cluster: 'double', user: 'u', namespace }],
      currentContext: 'double',
    };
  }

  /** Writes a kubeconfig file (for child processes: KUBECONFIG=path). */
  writeKubeconfig(path: string, namespace = 'default'): string {
    const yaml = [
      'apiVersion: v1', 'kind: Config',
      'clusters:', '- name: double', '  cluster:', `    server: ${this.url}`, '    insecure-skip-tls-verify: true',
      'users:', '- name: u', '  user:', '    token: t',
      'contexts:', '- name: double', '  context:', '    cluster: double', '    user: u', `    namespace: ${namespace}`,
      'current-context: double', '',
    ].join('\n');
    writeFileSync(path, yaml);
    return path;
  }

  /** Kills every process, closes watches, hung requests and the server. */
  async stop(): Promise<void> {
    for (const w of this.watches) w.end();
    for (const r of this.hung) r.destroy();
    this.hung.clear();
    await this.cluster.stop();
    if (this.server) {
      const s = this.server;
      this.server = undefined;
      s.closeAllConnections();
      for (const sock of this.sockets) sock.destroy();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  }

  // ---- fault injection -----------------------------------------------------------------------

  /** The next `count` matching requests get `status` (429, 500, 503, 403, 422, 409, 404...) with a real Status body. */
  failNext(count: number, status: number, match: FaultMatch = {}): void {
    this.faults.push({ ...match, remaining: count, kind: 'fail', status });
  }

  /** The next `count` matching requests are accepted and never answered. */
  hangNext(count: number, match: FaultMatch = {}): void {
    this.faults.push({ ...match, remaining: count, kind: 'hang' });
  }

  clearFaults(): void { this.faults = []; }

  /**
   * Closes every open watch stream: 'abrupt' (default) destroys the socket mid-stream, which
   * client-node reports as an error (its informer then stops until restarted); 'graceful' ends
   * the response, as the API server does at timeoutSeconds (the informer resumes by itself).
   */
  dropWatches(mode: 'abrupt' | 'graceful' = 'abrupt'): void {
    for (const w of [...this.watches]) { if (mode === 'abrupt') w.res.destroy(); w.end(); }
  }

  /** Forgets the watch history: open watches get an ERROR 410 Expired and end; resuming from any earlier resourceVersion gets 410 too. */
  expireWatches(): void {
    this.store.compact();
    for (const w of [...this.watches]) {
      w.sink.send('ERROR', expiredStatus());
      w.end();
    }
  }

  // ---- test-side helpers ---------------------------------------------------------------------

  createdJobNames(): string[] { return [...this.created]; }
  jobs(ns?: string): KObj[] { return this.store.list('jobs', ns).map(clone); }
  pods(ns?: string): KObj[] { return this.store.list('pods', ns).map(clone); }
  events(ns?: string): KObj[] { return this.store.list('events', ns).map(clone); }
  job(name: string, ns = 'default'): KObj | undefined { const j = this.store.get('jobs', ns, name); return j && clone(j); }
  pod(name: string, ns = 'default'): KObj | undefined { const p = this.store.get('pods', ns, name); return p && clone(p); }
  podsOfJob(name: string, ns = 'default'): KObj[] {
    const j = this.store.get('jobs', ns, name);
    return j ? this.cluster.podsOf(j).map(clone) : this.pods(ns).filter((p) => p.metadata.labels?.['job-name'] === name);
  }
  /** Events about an object (by name). */
  eventsFor(name: string, ns = 'default'): KObj[] { return this.events(ns).filter((e) => e.involvedObject?.name === name); }
  podLog(name: string, ns = 'default'): string | undefined { return this.cluster.logs(ns, name).text; }

  /** Stores a Secret (values as plain strings). */
  putSecret(name: string, data: Record<string, string>, ns = 'default'): KObj {
    const existing = this.store.get('secrets', ns, name);
    const obj: KObj = { metadata: { name, namespace: ns }, type: 'Opaque', data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) };
    return existing ? this.store.update('secrets', { ...existing, data: obj.data }) : this.store.create('secrets', obj);
  }

  resumeJob(name: string, ns = 'default'): KObj | undefined { return this.cluster.resumeJob(ns, name); }
  evictPod(name: string, ns = 'default'): void { this.cluster.evictPod(ns, name); }
  deletePod(name: string, ns = 'default', gracePeriodSeconds?: number): void { this.cluster.deletePod(ns, name, gracePeriodSeconds); }
  killPod(name: string, signal: NodeJS.Signals = 'SIGKILL', ns = 'default'): void { this.cluster.killPod(ns, name, signal); }
  deleteJob(name: string, policy: 'Background' | 'Foreground' | 'Orphan' = 'Background', ns = 'default'): void { this.cluster.deleteJob(ns, name, policy); }

  // ---- HTTP ----------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const query = Object.fromEntries(url.searchParams);
    const method = (req.method ?? 'GET').toUpperCase();
    const rec: RequestRecord = { method, path: url.pathname, query, status: 0, time: Date.now(), watch: query.watch === 'true' || query.watch === '1' };
    this.requests.push(rec);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      rec.status = status;
      if (res.destroyed) return;
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', ...headers });
      res.end(text);
    };
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));

    const fault = this.faults.find((f) => f.remaining > 0 && (!f.method || f.method.toUpperCase() === method) && (!f.path || f.path.test(url.pathname)));
    if (fault) {
      fault.remaining--;
      this.faults = this.faults.filter((f) => f.remaining > 0);
      if (fault.kind === 'hang') { rec.status = -1; this.hung.add(res); res.on('close', () => this.hung.delete(res)); return; }
      const [status, body, headers] = this.faultBody(fault.status!, method, url.pathname);
      send(status, body, headers);
      return;
    }
    try {
      let body: Json;
      if (chunks.length) {
        const text = Buffer.concat(chunks).toString('utf8');
        try { body = JSON.parse(text); } catch { send(400, statusBody(400, 'BadRequest', `the body of the request was in an unknown format`)); return; }
      }
      this.route(method, url, query, body, req, res, rec, send);
    } catch (e) {
      if (e instanceof SelectorError) send(400, statusBody(400, 'BadRequest', e.message));
      else send(500, statusBody(500, 'InternalError', `Internal error occurred: ${(e as Error).stack}`));
    }
  }

  private faultBody(status: number, method: string, path: string): [number, Json, Record<string, string>] {
    const p = parsePath(path);
    const r = p?.resource ?? RESOURCES.jobs;
    const ns = p?.namespace ?? 'default';
    const verb = method === 'POST' ? 'create' : method === 'DELETE' ? 'delete' : method === 'PUT' ? 'update' : method === 'PATCH' ? 'patch' : p?.name ? 'get' : 'list';
    switch (status) {
      case 429: return [429, statusBody(429, 'TooManyRequests', 'Too many requests, please try again later.', { retryAfterSeconds: 1 }), { 'retry-after': '1' }];
      case 500: return [500, statusBody(500, 'InternalError', 'Internal error occurred: injected fault', { causes: [{ message: 'injected fault' }] }), {}];
      case 503: return [503, statusBody(503, 'ServiceUnavailable', 'the server is currently unable to handle the request'), { 'retry-after': '1' }];
      case 504: return [504, statusBody(504, 'Timeout', 'Timeout: request did not complete within requested timeout - context deadline exceeded'), {}];
      case 403: return [403, statusBody(403, 'Forbidden', `${qualified(r)} is forbidden: User "system:serviceaccount:x:y" cannot ${verb} resource "${r.plural}" in API group "${r.group}" in the namespace "${ns}"`, { kind: r.plural, group: r.group || undefined }), {}];
      case 401: return [401, statusBody(401, 'Unauthorized', 'Unauthorized'), {}];
      case 404: return [404, notFound(r, p?.name ?? 'x'), {}];
      case 409: return [409, p?.name || method !== 'POST' ? statusBody(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(r)} "${p?.name ?? 'x'}": the object has been modified; please apply your changes to the latest version and try again`, { name: p?.name, group: r.group || undefined, kind: r.plural }) : alreadyExists(r, 'x'), {}];
      case 410: return [410, expiredStatus(), {}];
      case 422: return [422, invalid(r, p?.name ?? 'x', [{ reason: 'FieldValueInvalid', field: 'metadata.name', message: 'Invalid value: "x": injected fault' }]), {}];
      default: return [status, statusBody(status, 'InternalError', `injected fault ${status}`), {}];
    }
  }

  private route(method: string, url: URL, query: Record<string, string>, body: Json, req: IncomingMessage, res: ServerResponse, rec: RequestRecord,
    send: (status: number, body: unknown, headers?: Record<string, string>) => void): void {
    const path = url.pathname;
    if (path === '/version') { send(200, { major: '1', minor: '31', gitVersion: 'v1.31.0-double', platform: 'linux/amd64' }); return; }
    if (path === '/healthz' || path === '/readyz' || path === '/livez') { send(200, 'ok'); return; }
    if (path === '/api') { send(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] }); return; }
    const nsm = path.match(/^\/api\/v1\/namespaces\/([^/]+)$/);
    if (nsm && method === 'GET') { send(200, { kind: 'Namespace', apiVersion: 'v1', metadata: { name: nsm[1], uid: nsm[1], resourceVersion: '1' }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } }); return; }
    const p = parsePath(path);
    if (!p) { send(404, statusBody(404, 'NotFound', 'the server could not find the requested resource', { causes: [{ reason: 'UnexpectedServerResponse', message: '404 page not found' }] })); return; }
    const { resource: r, namespace: ns, name, sub } = p;

    if (sub === 'log' && r.plural === 'pods' && method === 'GET') {
      const pod = this.store.get('pods', ns!, name!);
      if (!pod) { send(404, notFound(r, name!)); return; }
      const cname = pod.spec?.containers?.[0]?.name;
      if (query.container && query.container !== cname) { send(400, statusBody(400, 'BadRequest', `container ${query.container} is not valid for pod ${name}`)); return; }
      const l = this.cluster.logs(ns!, name!);
      if (l.text === undefined) { send(l.code!, statusBody(l.code!, l.code === 404 ? 'NotFound' : 'BadRequest', l.message!)); return; }
      let text = l.text;
      if (query.tailLines !== undefined) {
        const n = Number(query.tailLines);
        const lines = text.split('\n');
        if (lines[lines.length - 1] === '') lines.pop();
        text = n <= 0 ? '' : lines.slice(-n).join('\n') + (lines.length ? '\n' : '');
      }
      if (query.limitBytes) text = text.slice(0, Number(query.limitBytes));
      send(200, text);
      return;
    }
    if (sub) { send(404, statusBody(404, 'NotFound', 'the server could not find the requested resource')); return; }

    if (method === 'GET' && !name) {
      if (rec.watch) { this.watch(r, ns, query, res, rec); return; }
      const labels = parseLabelSelector(query.labelSelector);
      const fields = parseFieldSelector(query.fieldSelector);
      const items = this.store.list(r.plural, ns).filter((o) => labels(o.metadata.labels ?? {}) && fields(o)).map((o) => {
        const c = clone(o); delete c.kind; delete c.apiVersion; return c;
      });
      send(200, { kind: `${r.kind}List`, apiVersion: r.apiVersion, metadata: { resourceVersion: String(this.store.rv) }, items });
      return;
    }
    if (method === 'GET') {
      const o = this.store.get(r.plural, ns, name!);
      if (o) send(200, o); else send(404, notFound(r, name!));
      return;
    }
    if (method === 'POST' && !name && ns) {
      if (!body || typeof body !== 'object') { send(400, statusBody(400, 'BadRequest', 'the body of the request was empty')); return; }
      const obj: KObj = clone(body);
      obj.metadata = obj.metadata ?? ({} as KObj['metadata']);
      if (obj.metadata.namespace && obj.metadata.namespace !== ns) {
        send(400, statusBody(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request')); return;
      }
      obj.metadata.namespace = ns;
      if (!obj.metadata.name && obj.metadata.generateName) obj.metadata.name = obj.metadata.generateName + randomSuffix();
      const causes = this.validate(r, obj);
      if (causes.length) { send(422, invalid(r, obj.metadata.name ?? '', causes)); return; }
      if (this.store.get(r.plural, ns, obj.metadata.name)) { send(409, alreadyExists(r, obj.metadata.name)); return; }
      delete obj.metadata.resourceVersion;
      delete obj.metadata.uid;
      delete obj.metadata.deletionTimestamp;
      if (r.plural === 'jobs') this.defaultJob(obj);
      if (r.plural === 'pods') obj.status = { phase: 'Pending', qosClass: 'BestEffort' };
      if (r.plural === 'secrets' && obj.stringData) {
        obj.data = { ...(obj.data ?? {}), ...Object.fromEntries(Object.entries(obj.stringData as Record<string, string>).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) };
        delete obj.stringData;
      }
      if (query.dryRun) { send(201, obj); return; }
      const stored = this.store.create(r.plural, r.plural === 'jobs' ? this.withSelector(obj) : obj);
      if (r.plural === 'jobs') this.created.push(stored.metadata.name);
      // The controller sees the Job after the answer, like a real controller.
      send(201, stored);
      return;
    }
    if (method === 'DELETE' && name) {
      const o = this.store.get(r.plural, ns, name);
      if (!o) { send(404, notFound(r, name)); return; }
      const opts: Json = body && typeof body === 'object' ? body : {};
      const policy: string = query.propagationPolicy ?? opts.propagationPolicy ?? (opts.orphanDependents === false ? 'Background' : undefined) ?? (r.plural === 'jobs' ? 'Orphan' : 'Background');
      const graceRaw = query.gracePeriodSeconds ?? opts.gracePeriodSeconds;
      const grace = graceRaw === undefined ? undefined : Number(graceRaw);
      if (opts.preconditions?.uid && opts.preconditions.uid !== o.metadata.uid) {
        send(409, statusBody(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(r)} "${name}": Precondition failed: UID in precondition: ${opts.preconditions.uid}, UID in object meta: ${o.metadata.uid}`, { name, group: r.group || undefined, kind: r.plural }));
        return;
      }
      if (r.plural === 'jobs') {
        const out = this.cluster.deleteJob(ns!, name, policy, grace);
        if (policy === 'Foreground') send(200, out); else send(200, successStatus(r, name, o.metadata.uid));
      } else if (r.plural === 'pods') {
        const out = this.cluster.deletePod(ns!, name, grace);
        send(200, out);
      } else {
        send(200, this.store.remove(r.plural, ns, name));
      }
      return;
    }
    if (method === 'DELETE' && !name && ns) {
      const labels = parseLabelSelector(query.labelSelector);
      const victims = this.store.list(r.plural, ns).filter((o) => labels(o.metadata.labels ?? {}));
      for (const v of victims) {
        if (r.plural === 'jobs') this.cluster.deleteJob(ns, v.metadata.name, query.propagationPolicy ?? body?.propagationPolicy ?? 'Orphan');
        else if (r.plural === 'pods') this.cluster.deletePod(ns, v.metadata.name);
        else this.store.remove(r.plural, ns, v.metadata.name);
      }
      send(200, successStatus(r, ''));
      return;
    }
    if ((method === 'PUT' || method === 'PATCH') && name) {
      const cur = this.store.get(r.plural, ns, name);
      if (!cur) { send(404, notFound(r, name)); return; }
      let next: KObj;
      if (method === 'PUT') {
        if (body?.metadata?.resourceVersion && body.metadata.resourceVersion !== cur.metadata.resourceVersion) {
          send(409, statusBody(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(r)} "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, group: r.group || undefined, kind: r.plural }));
          return;
        }
        next = clone(body);
      } else {
        const ct = String(req.headers['content-type'] ?? '');
        if (ct.includes('json-patch+json') && Array.isArray(body)) {
          send(415, statusBody(415, 'UnsupportedMediaType', 'json-patch is not supported by the double; use a merge patch')); return;
        }
        next = mergePatch(clone(cur), body);
      }
      next.metadata = { ...next.metadata, name, namespace: ns };
      if (r.plural === 'jobs' && JSON.stringify(next.spec?.template) !== JSON.stringify(cur.spec?.template)) {
        send(422, invalid(r, name, [{ reason: 'FieldValueInvalid', field: 'spec.template', message: 'Invalid value: field is immutable' }])); return;
      }
      send(200, this.store.update(r.plural, next));
      return;
    }
    send(405, statusBody(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`));
  }

  private validate(r: ResourceInfo, obj: KObj): StatusCause[] {
    const causes: StatusCause[] = [];
    const name = obj.metadata.name;
    if (!name) return [{ reason: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required' }];
    if (r.plural === 'jobs' || r.plural === 'pods') causes.push(...validateLabelName(name));
    const podSpec: Json = r.plural === 'jobs' ? obj.spec?.template?.spec : r.plural === 'pods' ? obj.spec : undefined;
    const prefix = r.plural === 'jobs' ? 'spec.template.spec' : 'spec';
    if (r.plural === 'jobs' || r.plural === 'pods') {
      const containers = podSpec?.containers;
      if (!Array.isArray(containers) || containers.length === 0) causes.push({ reason: 'FieldValueRequired', field: `${prefix}.containers`, message: 'Required value' });
      else containers.forEach((c: Json, i: number) => {
        if (!c?.name) causes.push({ reason: 'FieldValueRequired', field: `${prefix}.containers[${i}].name`, message: 'Required value' });
        if (!c?.image) causes.push({ reason: 'FieldValueRequired', field: `${prefix}.containers[${i}].image`, message: 'Required value' });
      });
    }
    if (r.plural === 'jobs') {
      const rp = podSpec?.restartPolicy;
      if (rp !== 'Never' && rp !== 'OnFailure') {
        causes.push({ reason: rp ? 'FieldValueNotSupported' : 'FieldValueRequired', field: 'spec.template.spec.restartPolicy', message: rp ? `Unsupported value: "${rp}": supported values: "OnFailure", "Never"` : 'Required value: valid values: "OnFailure", "Never"' });
      }
      if (obj.spec?.podFailurePolicy && rp !== 'Never') {
        causes.push({ reason: 'FieldValueInvalid', field: 'spec.podFailurePolicy', message: `Invalid value: "${rp}": only "Never" is supported when podFailurePolicy is specified` });
      }
      for (const f of ['backoffLimit', 'activeDeadlineSeconds', 'ttlSecondsAfterFinished'] as const) {
        const v = obj.spec?.[f];
        if (v !== undefined && v !== null && (!Number.isInteger(v) || v < (f === 'activeDeadlineSeconds' ? 1 : 0))) {
          causes.push({ reason: 'FieldValueInvalid', field: `spec.${f}`, message: `Invalid value: ${JSON.stringify(v)}: must be greater than or equal to ${f === 'activeDeadlineSeconds' ? 1 : 0}` });
        }
      }
    }
    return causes;
  }

  private defaultJob(obj: KObj): void {
    obj.spec = { backoffLimit: 6, completions: 1, parallelism: 1, completionMode: 'NonIndexed', suspend: false, manualSelector: false, podReplacementPolicy: 'TerminatingOrFailed', ...obj.spec };
    obj.spec.template.spec = { terminationGracePeriodSeconds: 30, dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler', securityContext: {}, ...obj.spec.template.spec };
    obj.status = {};
  }

  /** Adds the uid, selector and labels the API server adds to a Job at creation. */
  private withSelector(obj: KObj): KObj {
    const uid = newUid();
    const name = obj.metadata.name;
    obj.metadata.uid = uid;
    const auto = { 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': name, 'controller-uid': uid, 'job-name': name };
    obj.spec.selector = obj.spec.selector ?? { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
    obj.spec.template.metadata = obj.spec.template.metadata ?? {};
    obj.spec.template.metadata.labels = { ...(obj.spec.template.metadata.labels ?? {}), ...auto };
    // Like the API server's defaulting: a Job without labels gets its template's labels.
    if (!obj.metadata.labels || Object.keys(obj.metadata.labels).length === 0) obj.metadata.labels = { ...obj.spec.template.metadata.labels };
    return obj;
  }

  private watch(r: ResourceInfo, ns: string | undefined, query: Record<string, string>, res: ServerResponse, rec: RequestRecord): void {
    const labels = parseLabelSelector(query.labelSelector);
    const fields = parseFieldSelector(query.fieldSelector);
    rec.status = 200;
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache, private' });
    res.flushHeaders();
    const write = (type: string, object: unknown): void => { if (!res.destroyed && !res.writableEnded) res.write(JSON.stringify({ type, object }) + '\n'); };
    const w: OpenWatch = {
      res, timers: [],
      sink: { resource: r.plural, namespace: ns ?? null, matches: (o) => labels(o.metadata.labels ?? {}) && fields(o), send: write },
      end: () => {
        if (!this.watches.has(w)) return;
        this.watches.delete(w);
        this.store.sinks.delete(w.sink);
        for (const t of w.timers) clearTimeout(t);
        if (!res.destroyed && !res.writableEnded) res.end();
      },
    };
    this.watches.add(w);
    res.on('close', () => w.end());
    const rvParam = query.resourceVersion;
    if (!rvParam || rvParam === '0') {
      for (const o of this.store.list(r.plural, ns)) if (w.sink.matches(o)) write('ADDED', o);
    } else {
      const since = this.store.since(Number(rvParam));
      if (since === 'expired') { write('ERROR', expiredStatus(rvParam)); w.end(); return; }
      for (const ev of since) {
        if (ev.resource !== r.plural || (ns && ev.object.metadata.namespace !== ns) || !w.sink.matches(ev.object)) continue;
        write(ev.type, ev.object);
      }
    }
    this.store.sinks.add(w.sink);
    if (query.allowWatchBookmarks === 'true' && this.bookmarkIntervalMs > 0) {
      const iv = setInterval(() => write('BOOKMARK', { kind: r.kind, apiVersion: r.apiVersion, metadata: { resourceVersion: String(this.store.rv) } }), this.bookmarkIntervalMs);
      w.timers.push(iv as unknown as NodeJS.Timeout);
    }
    if (query.timeoutSeconds) w.timers.push(setTimeout(() => w.end(), Number(query.timeoutSeconds) * 1000));
  }
}

function expiredStatus(rv?: string): Json {
  return statusBody(410, 'Expired', rv ? `too old resource version: ${rv}` : 'too old resource version');
}

interface ParsedPath { resource: ResourceInfo; namespace?: string; name?: string; sub?: string }

function parsePath(path: string): ParsedPath | undefined {
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  let rest: string[];
  if (parts[0] === 'api' && parts[1] === 'v1') rest = parts.slice(2);
  else if (parts[0] === 'apis' && parts[1] === 'batch' && parts[2] === 'v1') rest = parts.slice(3);
  else return undefined;
  const group = parts[0] === 'api' ? '' : 'batch';
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) { namespace = rest[1]; rest = rest.slice(2); }
  const resource = RESOURCES[rest[0]];
  if (!resource || resource.group !== group || rest.length > 3) return undefined;
  if (!namespace && rest.length > 1) return undefined;
  return { resource, namespace, name: rest[1], sub: rest[2] };
}
