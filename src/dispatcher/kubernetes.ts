// The Kubernetes executor, through @kubernetes/client-node: creates one Job per launch, watches
// Jobs and pods by label (informers, for speed), lists them afresh for the periodic compare,
// reads pod logs and events to explain failures, and deletes Jobs. Every call goes through a
// client-side rate limit, a timeout, and retries of 429 / 5xx / no answer.
import * as k8s from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import type { Config } from '../config.js';
import { ConfigError } from '../config.js';
import type { Logger } from '../logger.js';
import type { Task } from '../tasks/model.js';
import { LaunchRejected, type Executor, type LaunchSpec, type RunObservation } from './executor.js';
import { describeJob } from './job-status.js';
import { TASK_CONTAINER, jobSelector } from './job-spec.js';
import type { DispatcherMetrics } from './metrics.js';
import { RateLimiter, retryDelayMs } from './rate-limit.js';

const MAX_TRIES = 6;
const INFORMER_RESTART_MS = 1_000;
/** Answers that retrying cannot change. */
const PERMANENT = new Set([400, 401, 403, 404, 409, 410, 422]);

export interface KubernetesExecutorOptions {
  config: Config;
  logger: Logger;
  metrics: DispatcherMetrics;
  kubeConfig: k8s.KubeConfig;
  /** The Job for a launch (job-spec.ts with the plugin's hints and the pod template). */
  jobFor(task: Task, attempt: number): Promise<k8s.V1Job>;
}

/** KubeConfig from TASKPOD_KUBECONFIG, else in-cluster, else $KUBECONFIG / ~/.kube/config. */
export function loadKubeConfig(config: Config, env: NodeJS.ProcessEnv = process.env): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  reuseConnections(kc);
  try {
    if (config.kubeconfig) {
      if (!existsSync(config.kubeconfig)) throw new Error(`${config.kubeconfig} does not exist`);
      kc.loadFromFile(config.kubeconfig);
    } else if (env.KUBERNETES_SERVICE_HOST) {
      kc.loadFromCluster();
    } else {
      kc.loadFromDefault();
    }
    if (config.kubeContext) kc.setCurrentContext(config.kubeContext);
    if (!kc.getCurrentCluster()) throw new Error(`no cluster for context ${JSON.stringify(kc.getCurrentContext())}`);
  } catch (err) {
    throw new ConfigError(`Invalid configuration: kubeconfig (env TASKPOD_KUBECONFIG): ${(err as Error).message}`);
  }
  return kc;
}

/**
 * client-node 1.4.0 builds a new agent, so a new TCP (and TLS) connection, for every request.
 * Keep one keep-alive agent per set of TLS options instead (new certificates get a new agent).
 */
function reuseConnections(kc: k8s.KubeConfig): void {
  type CreateAgent = (cluster: k8s.Cluster | null, options: Record<string, unknown>) => unknown;
  const target = kc as unknown as { createAgent: CreateAgent };
  const create = target.createAgent.bind(kc);
  const agents = new Map<string, unknown>();
  target.createAgent = (cluster, options) => {
    const key = JSON.stringify([cluster?.server, cluster?.proxyUrl, options], (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('base64') : v));
    let agent = agents.get(key);
    if (!agent) {
      agent = create(cluster, { ...options, keepAlive: true });
      agents.set(key, agent);
    }
    return agent;
  };
}

export class KubernetesExecutor implements Executor {
  readonly sharedView = true;
  readonly kind = 'kubernetes';
  private readonly batch: k8s.BatchV1Api;
  private readonly core: k8s.CoreV1Api;
  private readonly limiter: RateLimiter;
  private readonly namespace: string;
  private readonly selector: string;
  private jobInformer?: k8s.Informer<k8s.V1Job> & k8s.ObjectCache<k8s.V1Job>;
  private podInformer?: k8s.Informer<k8s.V1Pod> & k8s.ObjectCache<k8s.V1Pod>;
  private stopped = false;
  private lastAnswer = 0;
  /** Job name → the pod whose log explains it, from the last observation (Jobs gone since drop out). */
  private podOfJob = new Map<string, string>();

  constructor(private readonly options: KubernetesExecutorOptions) {
    const { kubeConfig, config } = options;
    this.batch = kubeConfig.makeApiClient(k8s.BatchV1Api);
    this.core = kubeConfig.makeApiClient(k8s.CoreV1Api);
    this.limiter = new RateLimiter(config.kubeQps, config.kubeBurst);
    this.namespace = config.namespace;
    this.selector = jobSelector(config.schema);
  }

  async start(onChange: () => void): Promise<void> {
    const { kubeConfig } = this.options;
    const { namespace, selector } = this;
    this.jobInformer = k8s.makeInformer(kubeConfig, `/apis/batch/v1/namespaces/${namespace}/jobs`, () => this.listJobs(), selector);
    this.podInformer = k8s.makeInformer(kubeConfig, `/api/v1/namespaces/${namespace}/pods`, () => this.listPods(), selector);
    await this.watch('jobs', this.jobInformer, onChange);
    await this.watch('pods', this.podInformer, onChange);
  }

  private async watch<T extends k8s.KubernetesObject>(kind: string, informer: k8s.Informer<T>, onChange: () => void): Promise<void> {
    informer.on(k8s.ADD, () => onChange());
    informer.on(k8s.UPDATE, () => onChange());
    informer.on(k8s.DELETE, () => onChange());
    // client-node's informer stops for good when its watch breaks or its list fails: restart it.
    const restart = (err: unknown) => {
      if (this.stopped) return;
      this.options.logger.warn({ err: describeApiError(err) }, `Watch of ${kind} stopped; restarting it (the periodic compare covers the gap)`);
      setTimeout(() => { if (!this.stopped) void informer.start().catch(restart); }, INFORMER_RESTART_MS).unref();
    };
    informer.on(k8s.ERROR, restart);
    // Not awaited: a cluster that is down at start-up must not hold the dispatcher up.
    void informer.start().catch(restart);
  }

  async launch({ task, attempt, name }: LaunchSpec): Promise<'created' | 'exists'> {
    let body: k8s.V1Job;
    try {
      body = await this.options.jobFor(task, attempt);
    } catch (err) {
      // Retrying cannot fix a Job that cannot be built (a bad resources value in the row, say).
      throw new LaunchRejected(`the Job could not be built: ${(err as Error).message}`);
    }
    if (body.metadata?.name !== name) throw new LaunchRejected(`the Job spec is named ${body.metadata?.name}, expected ${name}`);
    try {
      await this.call('create', (o) => this.batch.createNamespacedJob({ namespace: this.namespace, body }, o));
      return 'created';
    } catch (err) {
      const code = statusCode(err);
      if (code === 409) return 'exists';
      if (code === 400 || code === 403 || code === 422) throw new LaunchRejected(`the API answered ${code}: ${describeApiError(err)}`, code);
      throw err;
    }
  }

  async observe(fresh: boolean): Promise<RunObservation[]> {
    const [jobs, pods] = fresh || !this.jobInformer || !this.podInformer
      ? await Promise.all([this.listJobs().then((l) => l.items), this.listPods().then((l) => l.items)])
      : [this.jobInformer.list(this.namespace), this.podInformer.list(this.namespace)];
    const podsByJob = new Map<string, k8s.V1Pod[]>();
    for (const pod of pods) {
      const job = pod.metadata?.labels?.['job-name'] ?? pod.metadata?.labels?.['batch.kubernetes.io/job-name'];
      if (job) podsByJob.set(job, [...(podsByJob.get(job) ?? []), pod]);
    }
    const observations: RunObservation[] = [];
    const podOfJob = new Map<string, string>();
    for (const job of jobs) {
      const name = job.metadata?.name ?? '';
      const own = podsByJob.get(name) ?? [];
      const observation = describeJob(job, own);
      if (!observation) continue;
      const explaining = [...own].reverse().find((p) => p.status?.phase === 'Failed') ?? own.at(-1);
      if (explaining?.metadata?.name) podOfJob.set(name, explaining.metadata.name);
      if (observation.phase === 'starting' && !observation.blockedBy && !observation.suspended && explaining?.metadata?.name
        && Date.now() - observation.createdAt.getTime() >= this.options.config.startDeadlineSeconds * 1000) {
        observation.blockedBy = await this.warningEvent(explaining.metadata.name);
      }
      observations.push(observation);
    }
    this.podOfJob = podOfJob;
    return observations;
  }

  async logTail(name: string, lines: number): Promise<string | undefined> {
    const pod = this.podOfJob.get(name);
    if (!pod || lines <= 0) return undefined;
    try {
      const log = await this.call('read log', (o) => this.core.readNamespacedPodLog({ name: pod, namespace: this.namespace, container: TASK_CONTAINER, tailLines: lines }, o), false);
      return String(log).trimEnd();
    } catch {
      return undefined;
    }
  }

  async remove(name: string): Promise<void> {
    try {
      await this.call('delete', (o) => this.batch.deleteNamespacedJob({ name, namespace: this.namespace, propagationPolicy: 'Background' }, o));
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
    this.podOfJob.delete(name);
  }

  async ready(): Promise<boolean> {
    if (Date.now() - this.lastAnswer < 30_000) return true;
    try {
      await this.listJobs(true);
      return true;
    } catch {
      return false;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([this.jobInformer?.stop(), this.podInformer?.stop()]);
  }

  /** probe: one Job, no retries — enough to tell whether the API server answers. */
  private listJobs(probe = false): Promise<k8s.V1JobList> {
    return this.call('list jobs', (o) => this.batch.listNamespacedJob({
      namespace: this.namespace, labelSelector: this.selector, limit: probe ? 1 : undefined,
    }, o), !probe);
  }

  private listPods(): Promise<k8s.V1PodList> {
    return this.call('list pods', (o) => this.core.listNamespacedPod({ namespace: this.namespace, labelSelector: this.selector }, o));
  }

  /** The latest Warning event of a pod (FailedMount, FailedScheduling, ...), as "Reason: message". */
  private async warningEvent(pod: string): Promise<string | undefined> {
    try {
      const events = await this.call('list events', (o) => this.core.listNamespacedEvent({
        namespace: this.namespace, fieldSelector: `involvedObject.name=${pod}`,
      }, o), false);
      const warning = events.items
        .filter((e) => e.type === 'Warning')
        .sort((a, b) => eventTime(a) - eventTime(b))
        .at(-1);
      return warning ? `${warning.reason}: ${warning.message}` : undefined;
    } catch {
      return undefined;
    }
  }

  /** Rate limit, timeout, and retries of 429 / 5xx / no answer; records API errors. */
  private async call<T>(verb: string, request: (options: k8s.ConfigurationOptions) => Promise<T>, retry = true): Promise<T> {
    const timeoutMs = this.options.config.kubeTimeoutMs;
    for (let tries = 1; ; tries++) {
      await this.limiter.take();
      // client-node 1.4.0 applies per-call middleware unwrapped: it must return its Observable,
      // although the typings ask for promises.
      const options = {
        middleware: [{
          pre: (context: k8s.RequestContext) => {
            context.setSignal(AbortSignal.timeout(timeoutMs));
            return new k8s.Observable(Promise.resolve(context));
          },
          post: (response: k8s.ResponseContext) => new k8s.Observable(Promise.resolve(response)),
        }],
        middlewareMergeStrategy: 'append',
      } as unknown as k8s.ConfigurationOptions;
      try {
        const result = await request(options);
        this.lastAnswer = Date.now();
        return result;
      } catch (err) {
        const code = statusCode(err);
        // A 4xx is an answer from a working API server; 429, 5xx and silence are not.
        if (code && code < 500 && code !== 429) this.lastAnswer = Date.now();
        if (code !== 404 && code !== 409) this.options.metrics.apiErrors.inc({ verb, code: String(code ?? 0) });
        if ((code !== undefined && PERMANENT.has(code)) || !retry || tries >= MAX_TRIES || this.stopped) throw err;
        const delay = retryDelayMs(tries, retryAfterSeconds(err));
        this.options.logger.debug({ verb, code, delay }, 'Kubernetes API call failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }
}

function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'number' && code >= 100 && code < 600 ? code : undefined;
}

function retryAfterSeconds(err: unknown): number | undefined {
  const headers = (err as { headers?: Record<string, string> })?.headers;
  const value = headers?.['retry-after'] ?? headers?.['Retry-After'];
  return value === undefined ? undefined : Number(value);
}

/** The Status message of an ApiException ("jobs.batch is forbidden: ..."), else the error's own. */
export function describeApiError(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string };
  let body = e?.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      // a plain-text body is the message itself
    }
  }
  const status = body as { message?: string; reason?: string } | undefined;
  if (status && typeof status === 'object' && status.message) return status.reason ? `${status.reason}: ${status.message}` : status.message;
  if (typeof body === 'string' && body.trim()) return body.trim().slice(0, 500);
  return e?.message ?? String(err);
}

function eventTime(event: k8s.CoreV1Event): number {
  const at = event.lastTimestamp ?? event.eventTime ?? event.metadata?.creationTimestamp;
  return at ? new Date(at).getTime() : 0;
}
