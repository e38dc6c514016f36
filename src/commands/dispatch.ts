// `taskpod dispatch`: wires the configuration, the database, the executor and the status
// server to the dispatcher loop; SIGTERM drains and exits 0.
import type { Config } from '../config.js';
import { loadConfig } from '../config.js';
import { openContext, loadLogger, workerName } from '../context.js';
import { connectClient, createPool, describeDbError, resolveDatabaseUrl } from '../db/pool.js';
import { isMigrated } from '../db/migrate.js';
import type { Logger } from '../logger.js';
import type { PluginRegistry } from '../plugins.js';
import { TaskStore } from '../tasks/store.js';
import { Dispatcher } from '../dispatcher/dispatcher.js';
import type { Executor } from '../dispatcher/executor.js';
import { LocalExecutor } from '../dispatcher/local.js';
import { DispatcherMetrics } from '../dispatcher/metrics.js';
import { startStatusServer } from '../server.js';

export interface DispatchFlags { executor?: 'kubernetes' | 'local'; once?: boolean }

/** kubernetes when a cluster is configured (a kubeconfig, or running in a pod), else local. */
export function executorKind(config: Config, flags: DispatchFlags, env: NodeJS.ProcessEnv = process.env): 'kubernetes' | 'local' {
  if (flags.executor) return flags.executor;
  if (config.executor !== 'auto') return config.executor;
  return config.kubeconfig || env.KUBERNETES_SERVICE_HOST ? 'kubernetes' : 'local';
}

export async function dispatchCommand(flags: DispatchFlags): Promise<number> {
  const config = loadConfig();
  const logger = loadLogger(config);
  const kind = executorKind(config, flags);
  // Each connection names its role and this dispatcher (as `taskpod run <worker>` does), so
  // pg_stat_activity tells replicas apart; the worker goes last, where a long pod name is cut
  // (PostgreSQL keeps 63 bytes of an application name).
  const appName = (role: string) => `taskpod dispatch${role} ${workerName(config)}`;
  const ctx = await openContext(config, logger, appName(''));
  if (!(await isMigrated(ctx.client, config.schema))) {
    await ctx.close();
    process.stderr.write(`ERROR: the taskpod tables in schema ${config.schema} are missing or out of date: run \`taskpod migrate\` first\n`);
    return 1;
  }
  // The context's own connection was only needed for the check (and the embedded set-up).
  await ctx.close();
  const pool = createPool(await resolveDatabaseUrl(config), config, 8, appName(' (pool)'));
  pool.on('error', (err) => logger.warn({ err: describeDbError(err) }, 'Idle database connection failed'));
  const metrics = new DispatcherMetrics(new TaskStore(pool, config.schema));
  const executor: Executor = kind === 'local'
    ? new LocalExecutor({ files: ctx.files, logger })
    : await kubernetesExecutor(config, logger, metrics, ctx.registry);
  const dispatcher = new Dispatcher({
    config, logger, pool, executor, metrics,
    connectListener: () => connectClient(config, appName(' (listen)')),
  });
  const closeAll = () => pool.end().catch(() => undefined);

  if (flags.once) {
    try {
      await dispatcher.runOnce(executor instanceof LocalExecutor ? () => executor.idle() : undefined);
      await executor.stop();
    } finally {
      await closeAll();
    }
    return 0;
  }

  const server = await startStatusServer(
    { healthy: () => dispatcher.healthy, ready: () => dispatcher.ready() },
    metrics.registry, config.listenHost, config.port);
  // process.on, not once: execa's exit hook re-raises a signal that finds no other listener.
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    process.on('SIGTERM', () => resolve('SIGTERM'));
    process.on('SIGINT', () => resolve('SIGINT'));
  });
  await dispatcher.start();
  logger.info({ executor: kind, namespace: kind === 'kubernetes' ? config.namespace : undefined, port: server.port, schema: config.schema },
    `Dispatcher started (${kind} executor); /healthz /readyz /metrics on port ${server.port}`);
  const signal = await stopped;
  logger.info(`Received ${signal}: no new launches; finishing in-flight work`);
  await dispatcher.stop();
  await server.close();
  await closeAll();
  logger.info('Dispatcher stopped');
  return 0;
}

async function kubernetesExecutor(config: Config, logger: Logger, metrics: DispatcherMetrics, registry: PluginRegistry): Promise<Executor> {
  const [{ KubernetesExecutor, loadKubeConfig }, { buildJob }, { loadPodTemplate }] = await Promise.all([
    import('../dispatcher/kubernetes.js'), import('../dispatcher/job-spec.js'), import('../dispatcher/pod-template.js'),
  ]);
  const kubeConfig = loadKubeConfig(config);
  const podTemplate = config.podTemplateFile ? loadPodTemplate(config.podTemplateFile) : undefined;
  return new KubernetesExecutor({
    config, logger, metrics, kubeConfig,
    async jobFor(task, attempt) {
      // An unknown type still gets its Job: the runner in it fails the task with the guide's message.
      const pluginResources = await registry.load(task.task_type).then((p) => p.resources, () => undefined);
      return buildJob({ task, attempt, config, pluginResources, podTemplate });
    },
  });
}

