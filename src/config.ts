// The one configuration schema: every setting, its environment variable and its default.
// A bad value stops start-up with the key, the env var and what was wrong.
import convict from 'convict';
import { ConfigError } from './config-error.js';

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

// Integers from the environment. convict's own 'nat' and 'port' read a string with parseInt, so
// "12abc" became 12 and "2.592e+06" (a large number as Helm renders a float) became 2: here only
// digits make a number, anything else stays a string and is refused with the value shown.
const digitsOnly = (value: unknown) => (typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value);
function integerFormat(name: string, min: number, max: number, message: string): void {
  convict.addFormat({
    name,
    coerce: digitsOnly,
    validate(value: unknown) {
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) throw new Error(message);
    },
  });
}
integerFormat('natural', 0, Number.MAX_SAFE_INTEGER, 'must be an integer >= 0');
integerFormat('positive-int', 1, Number.MAX_SAFE_INTEGER, 'must be a positive integer');
integerFormat('port-number', 0, 65535, 'ports must be within range 0 - 65535');

const schema = {
  databaseUrl: {
    doc: 'PostgreSQL connection string. Empty: start (or join) the embedded server under embeddedDir.',
    format: String, default: '', env: 'DATABASE_URL', sensitive: true,
  },
  schema: {
    doc: 'PostgreSQL schema holding taskpod tables.',
    format: (value: unknown) => {
      if (typeof value !== 'string' || !IDENTIFIER.test(value)) throw new Error('must be a lowercase SQL identifier (a-z, 0-9, _; at most 63 characters)');
    },
    default: 'taskpod', env: 'TASKPOD_SCHEMA',
  },
  dataDir: {
    doc: 'The shared volume: one directory per task (input.json, output.json, plugin files).',
    format: nonEmptyString, default: '.taskpod/data', env: 'TASKPOD_DATA_DIR',
  },
  embeddedDir: {
    doc: 'Where the embedded PostgreSQL server keeps its data (used only without DATABASE_URL).',
    format: nonEmptyString, default: '.taskpod', env: 'TASKPOD_EMBEDDED_DIR',
  },
  embeddedPort: {
    doc: 'TCP port of the embedded server on 127.0.0.1; 0 picks a free port when it is first created.',
    format: 'port-number', default: 0, env: 'TASKPOD_EMBEDDED_PORT',
  },
  logLevel: {
    doc: 'Log level.',
    format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info', env: 'TASKPOD_LOG_LEVEL',
  },
  logFormat: {
    doc: 'json, pretty, or auto (pretty when stderr is a terminal).',
    format: ['auto', 'json', 'pretty'], default: 'auto', env: 'TASKPOD_LOG_FORMAT',
  },
  pluginDirs: {
    doc: 'Extra plugin directories (comma-separated), searched before the built-in plugins.',
    format: Array, default: [] as string[], env: 'TASKPOD_PLUGIN_DIRS',
  },
  worker: {
    doc: 'Name recorded as the task\'s worker; empty means the host name (the pod name in Kubernetes) and pid.',
    format: String, default: '', env: 'TASKPOD_WORKER',
  },
  heartbeatMs: {
    doc: 'How often a runner refreshes heartbeat_at and checks for cancellation (milliseconds).',
    format: 'positive-int', default: 10_000, env: 'TASKPOD_HEARTBEAT_MS',
  },
  progressMs: {
    doc: 'Minimum interval between progress writes to the database (milliseconds).',
    format: 'natural', default: 1_000, env: 'TASKPOD_PROGRESS_MS',
  },
  defaultMaxAttempts: {
    doc: 'max_attempts of a submitted task unless --max-attempts says otherwise.',
    format: 'positive-int', default: 3, env: 'TASKPOD_MAX_ATTEMPTS',
  },
  dbConnectTimeoutMs: {
    doc: 'How long to wait for a database connection before giving up (milliseconds).',
    format: 'positive-int', default: 5_000, env: 'TASKPOD_DB_CONNECT_TIMEOUT_MS',
  },
  commandAllow: {
    doc: 'Executables the command plugin may run (comma-separated names or absolute paths). Empty: none.',
    format: Array, default: [] as string[], env: 'TASKPOD_COMMAND_ALLOW',
  },

  // --- the dispatcher (taskpod dispatch) and the Jobs it creates ---
  executor: {
    doc: 'kubernetes, local (child processes), or auto: kubernetes when in a cluster or kubeconfig is set, else local.',
    format: ['auto', 'kubernetes', 'local'], default: 'auto', env: 'TASKPOD_EXECUTOR',
  },
  kubeconfig: {
    doc: 'Path of a kubeconfig file; empty: in-cluster config when in a pod, else $KUBECONFIG / ~/.kube/config.',
    format: String, default: '', env: 'TASKPOD_KUBECONFIG',
  },
  kubeContext: {
    doc: 'kubeconfig context to use; empty: its current context.',
    format: String, default: '', env: 'TASKPOD_KUBE_CONTEXT',
  },
  namespace: {
    doc: 'Namespace of the task Jobs.',
    format: dnsLabel, default: 'default', env: 'TASKPOD_NAMESPACE',
  },
  jobPrefix: {
    doc: 'Job names are <prefix>-<task_id>-<launch>.',
    format: jobPrefix, default: 'taskpod', env: 'TASKPOD_JOB_PREFIX',
  },
  image: {
    doc: 'The taskpod image the task Jobs run.',
    format: nonEmptyString, default: 'taskpod:latest', env: 'TASKPOD_IMAGE',
  },
  imagePullPolicy: {
    doc: 'imagePullPolicy of the task containers.',
    format: ['Always', 'IfNotPresent', 'Never'], default: 'IfNotPresent', env: 'TASKPOD_IMAGE_PULL_POLICY',
  },
  imagePullSecrets: {
    doc: 'Secrets used to pull the image (comma-separated names).',
    format: Array, default: [] as string[], env: 'TASKPOD_IMAGE_PULL_SECRETS',
  },
  pvc: {
    doc: 'PersistentVolumeClaim mounted in every task pod as the shared data directory.',
    format: dnsSubdomain, default: 'taskpod-data', env: 'TASKPOD_PVC',
  },
  jobDataDir: {
    doc: 'Where the task pods mount the shared volume (their TASKPOD_DATA_DIR).',
    format: absolutePath, default: '/var/lib/taskpod/data', env: 'TASKPOD_JOB_DATA_DIR',
  },
  databaseSecret: {
    doc: 'Secret holding DATABASE_URL for the task pods.',
    format: dnsSubdomain, default: 'taskpod-database', env: 'TASKPOD_DATABASE_SECRET',
  },
  databaseSecretKey: {
    doc: 'Key of DATABASE_URL in that Secret.',
    format: nonEmptyString, default: 'DATABASE_URL', env: 'TASKPOD_DATABASE_SECRET_KEY',
  },
  taskServiceAccount: {
    doc: 'ServiceAccount of the task pods (no API token is mounted).',
    format: dnsSubdomain, default: 'taskpod-task', env: 'TASKPOD_TASK_SERVICE_ACCOUNT',
  },
  jobTtlSeconds: {
    doc: 'ttlSecondsAfterFinished of the task Jobs.',
    format: 'natural', default: 86_400, env: 'TASKPOD_JOB_TTL_SECONDS',
  },
  jobBackoffLimit: {
    doc: 'Pod retries inside one Job, for exit 75 (database unreachable) only; pod disruptions are not counted.',
    format: 'natural', default: 3, env: 'TASKPOD_JOB_BACKOFF_LIMIT',
  },
  jobDeadlineGraceSeconds: {
    doc: 'activeDeadlineSeconds is the task\'s timeout_seconds plus this, so the runner reports its own timeout first.',
    format: 'natural', default: 60, env: 'TASKPOD_JOB_DEADLINE_GRACE_SECONDS',
  },
  podTemplateFile: {
    doc: 'YAML or JSON pod template merged into every task pod (node selectors, tolerations, volumes, sidecars).',
    format: String, default: '', env: 'TASKPOD_POD_TEMPLATE_FILE',
  },
  typeResources: {
    doc: 'Resources per task type, over the plugin\'s hints: JSON {"type": {"requests": {...}, "limits": {...}}}.',
    format: jsonObject, default: '{}', env: 'TASKPOD_TYPE_RESOURCES',
  },
  kueueQueue: {
    doc: 'Kueue LocalQueue name; when set, Jobs carry kueue.x-k8s.io/queue-name and start suspended.',
    format: String, default: '', env: 'TASKPOD_KUEUE_QUEUE',
  },
  concurrency: {
    doc: 'At most this many tasks queued or running at once, across all dispatchers.',
    format: 'positive-int', default: 20, env: 'TASKPOD_CONCURRENCY',
  },
  typeConcurrency: {
    doc: 'Per-type limits on queued plus running tasks: JSON {"type": N}.',
    format: jsonObject, default: '{}', env: 'TASKPOD_TYPE_CONCURRENCY',
  },
  pollMs: {
    doc: 'Fallback poll for runnable tasks when no notification arrives (milliseconds).',
    format: 'positive-int', default: 5_000, env: 'TASKPOD_POLL_MS',
  },
  reconcileMs: {
    doc: 'Full compare of tasks against Jobs every this many milliseconds.',
    format: 'positive-int', default: 30_000, env: 'TASKPOD_RECONCILE_MS',
  },
  startDeadlineSeconds: {
    doc: 'A pod not running this long after its Job was created (image pull, unschedulable, ...) fails the task.',
    format: 'positive-int', default: 300, env: 'TASKPOD_START_DEADLINE_SECONDS',
  },
  staleSeconds: {
    doc: 'A running task whose heartbeat is older than this, with no runner holding its lock and no active Job, is retried or failed.',
    format: 'positive-int', default: 120, env: 'TASKPOD_STALE_SECONDS',
  },
  retryBaseSeconds: {
    doc: 'First delay before retrying an infrastructure failure; doubles each attempt (with jitter).',
    format: 'natural', default: 10, env: 'TASKPOD_RETRY_BASE_SECONDS',
  },
  retryMaxSeconds: {
    doc: 'Longest delay between retries.',
    format: 'natural', default: 600, env: 'TASKPOD_RETRY_MAX_SECONDS',
  },
  kubeQps: {
    doc: 'Kubernetes API requests per second (client-side rate limit); 0 lifts it.',
    format: 'natural', default: 20, env: 'TASKPOD_KUBE_QPS',
  },
  kubeBurst: {
    doc: 'Requests allowed at once above the QPS.',
    format: 'positive-int', default: 40, env: 'TASKPOD_KUBE_BURST',
  },
  kubeTimeoutMs: {
    doc: 'Timeout of one Kubernetes API request (milliseconds).',
    format: 'positive-int', default: 15_000, env: 'TASKPOD_KUBE_TIMEOUT_MS',
  },
  logTailLines: {
    doc: 'Lines of a failed pod\'s log stored on the task.',
    format: 'natural', default: 40, env: 'TASKPOD_LOG_TAIL_LINES',
  },
  listenHost: {
    doc: 'Address of the dispatcher\'s /healthz, /readyz and /metrics.',
    format: nonEmptyString, default: '0.0.0.0', env: 'TASKPOD_LISTEN_HOST',
  },
  port: {
    doc: 'Port of /healthz, /readyz and /metrics; 0 picks a free one.',
    format: 'port-number', default: 9090, env: 'TASKPOD_PORT',
  },
};

function nonEmptyString(value: unknown): void {
  if (typeof value !== 'string' || value.trim() === '') throw new Error('must be a non-empty string');
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function dnsLabel(value: unknown): void {
  if (typeof value !== 'string' || value.length > 63 || !DNS_LABEL.test(value)) throw new Error('must be a DNS label (lowercase letters, digits and -, at most 63 characters)');
}

function dnsSubdomain(value: unknown): void {
  if (typeof value !== 'string' || value.length > 253 || !value.split('.').every((part) => DNS_LABEL.test(part))) {
    throw new Error('must be a Kubernetes object name (lowercase letters, digits, - and ., at most 253 characters)');
  }
}

// <prefix>-<task_id>-<launch> must stay a DNS label of at most 63 characters: leave room for
// a 15-digit task id and a 4-digit launch number.
function jobPrefix(value: unknown): void {
  if (typeof value !== 'string' || value.length > 42 || !DNS_LABEL.test(value)) throw new Error('must be a DNS label of at most 42 characters');
}

function absolutePath(value: unknown): void {
  if (typeof value !== 'string' || !value.startsWith('/')) throw new Error('must be an absolute path');
}

function jsonObject(value: unknown): void {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return;
  let parsed: unknown;
  try {
    parsed = JSON.parse(String(value));
  } catch (err) {
    throw new Error(`must be a JSON object (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('must be a JSON object');
}

export type Config = {
  databaseUrl: string; schema: string; dataDir: string; embeddedDir: string; embeddedPort: number;
  logLevel: string; logFormat: 'auto' | 'json' | 'pretty'; pluginDirs: string[]; worker: string;
  heartbeatMs: number; progressMs: number; defaultMaxAttempts: number; dbConnectTimeoutMs: number;
  commandAllow: string[];
  executor: 'auto' | 'kubernetes' | 'local'; kubeconfig: string; kubeContext: string; namespace: string;
  jobPrefix: string; image: string; imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never'; imagePullSecrets: string[];
  pvc: string; jobDataDir: string; databaseSecret: string; databaseSecretKey: string; taskServiceAccount: string;
  jobTtlSeconds: number; jobBackoffLimit: number; jobDeadlineGraceSeconds: number; podTemplateFile: string;
  /** Parsed from JSON: resources per task type. */
  typeResources: Record<string, ResourceRequirements>;
  kueueQueue: string; concurrency: number;
  /** Parsed from JSON: per-type concurrency limits. */
  typeConcurrency: Record<string, number>;
  pollMs: number; reconcileMs: number; startDeadlineSeconds: number; staleSeconds: number;
  retryBaseSeconds: number; retryMaxSeconds: number; kubeQps: number; kubeBurst: number; kubeTimeoutMs: number;
  logTailLines: number; listenHost: string; port: number;
};

export interface ResourceRequirements {
  requests?: Record<string, string>;
  limits?: Record<string, string>;
}

export { ConfigError };

type SchemaKey = keyof typeof schema;

/** Loads the configuration from the environment (and optional overrides), validated. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const config = convict(schema, { env, args: [] });
  config.load(overrides);
  try {
    config.validate({ allowed: 'strict' });
  } catch (err) {
    throw new ConfigError(describeValidationError(err as Error, env));
  }
  const loaded = config.getProperties() as unknown as Config;
  loaded.pluginDirs = loaded.pluginDirs.map((d) => d.trim()).filter(Boolean);
  loaded.commandAllow = loaded.commandAllow.map((d) => d.trim()).filter(Boolean);
  loaded.imagePullSecrets = loaded.imagePullSecrets.map((d) => d.trim()).filter(Boolean);
  loaded.typeResources = parseTypeResources(loaded.typeResources as unknown, env);
  loaded.typeConcurrency = parseTypeConcurrency(loaded.typeConcurrency as unknown, env);
  return loaded;
}

const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

function asObject(value: unknown): Record<string, unknown> {
  return (typeof value === 'string' ? JSON.parse(value) : value) as Record<string, unknown>;
}

/** Checks {"requests": {...}, "limits": {...}} of Kubernetes quantities; the error says what is wrong. */
export function checkResources(resources: unknown, where: string): ResourceRequirements {
  if (typeof resources !== 'object' || resources === null || Array.isArray(resources)) {
    throw new Error(`${where} must be an object with requests and/or limits`);
  }
  const entry: ResourceRequirements = {};
  for (const [kind, quantities] of Object.entries(resources as Record<string, unknown>)) {
    if (kind !== 'requests' && kind !== 'limits') throw new Error(`${where}.${kind} is not requests or limits`);
    if (typeof quantities !== 'object' || quantities === null || Array.isArray(quantities)) throw new Error(`${where}.${kind} must be an object`);
    const checked: Record<string, string> = {};
    for (const [name, quantity] of Object.entries(quantities as Record<string, unknown>)) {
      if (!QUANTITY.test(String(quantity))) throw new Error(`${where}.${kind}.${name} is not a Kubernetes quantity (${JSON.stringify(quantity)})`);
      checked[name] = String(quantity);
    }
    entry[kind] = checked;
  }
  return entry;
}

function parseTypeResources(value: unknown, env: NodeJS.ProcessEnv): Record<string, ResourceRequirements> {
  const out: Record<string, ResourceRequirements> = {};
  for (const [type, resources] of Object.entries(asObject(value))) {
    try {
      out[type] = checkResources(resources, type);
    } catch (err) {
      const shown = env.TASKPOD_TYPE_RESOURCES !== undefined ? `: value was ${JSON.stringify(env.TASKPOD_TYPE_RESOURCES)}` : '';
      throw new ConfigError(`Invalid configuration: typeResources (env TASKPOD_TYPE_RESOURCES): ${(err as Error).message}${shown}`);
    }
  }
  return out;
}

function parseTypeConcurrency(value: unknown, env: NodeJS.ProcessEnv): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [type, limit] of Object.entries(asObject(value))) {
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0) {
      throw new ConfigError(`Invalid configuration: typeConcurrency (env TASKPOD_TYPE_CONCURRENCY): ${type} must be a non-negative integer, got ${JSON.stringify(limit)}${env.TASKPOD_TYPE_CONCURRENCY !== undefined ? `: value was ${JSON.stringify(env.TASKPOD_TYPE_CONCURRENCY)}` : ''}`);
    }
    out[type] = limit;
  }
  return out;
}

// convict reports "key: message: value was X" per line; add the env var, and hide secret values.
function describeValidationError(err: Error, env: NodeJS.ProcessEnv): string {
  const lines = err.message.split('\n').filter(Boolean).map((line) => {
    const key = line.slice(0, line.indexOf(':')) as SchemaKey;
    const entry = schema[key];
    if (!entry) return line;
    let problem = line.slice(line.indexOf(':') + 1).trim();
    if ('sensitive' in entry && entry.sensitive) problem = problem.replace(/: value was .*$/, '');
    else if (env[entry.env] !== undefined) problem = problem.replace(/: value was .*$/, `: value was ${JSON.stringify(env[entry.env])}`);
    return `${key} (env ${entry.env}): ${problem}`;
  });
  return `Invalid configuration: ${lines.join('; ')}`;
}

/** The effective configuration for display, with secrets masked. */
export function describeConfig(config: Config): Array<{ key: string; env: string; value: unknown; doc: string }> {
  return (Object.keys(schema) as SchemaKey[]).map((key) => {
    const entry = schema[key];
    let value: unknown = config[key];
    if ('sensitive' in entry && entry.sensitive && value) value = maskUrl(String(value));
    return { key, env: entry.env, value, doc: entry.doc };
  });
}

/** Masks the password in a connection string; anything unparseable is masked whole. */
export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '****';
    return parsed.toString();
  } catch {
    return '****';
  }
}
