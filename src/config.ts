// The one configuration schema: every setting, its environment variable and its default.
// A bad value stops start-up with the key, the env var and what was wrong.
import convict from 'convict';

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

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
    format: 'port', default: 0, env: 'TASKPOD_EMBEDDED_PORT',
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
    format: positiveInt, default: 10_000, env: 'TASKPOD_HEARTBEAT_MS',
  },
  progressMs: {
    doc: 'Minimum interval between progress writes to the database (milliseconds).',
    format: 'nat', default: 1_000, env: 'TASKPOD_PROGRESS_MS',
  },
  defaultMaxAttempts: {
    doc: 'max_attempts of a submitted task unless --max-attempts says otherwise.',
    format: positiveInt, default: 3, env: 'TASKPOD_MAX_ATTEMPTS',
  },
  dbConnectTimeoutMs: {
    doc: 'How long to wait for a database connection before giving up (milliseconds).',
    format: positiveInt, default: 5_000, env: 'TASKPOD_DB_CONNECT_TIMEOUT_MS',
  },
  commandAllow: {
    doc: 'Executables the command plugin may run (comma-separated names or absolute paths). Empty: none.',
    format: Array, default: [] as string[], env: 'TASKPOD_COMMAND_ALLOW',
  },
};

function nonEmptyString(value: unknown): void {
  if (typeof value !== 'string' || value.trim() === '') throw new Error('must be a non-empty string');
}

function positiveInt(value: unknown): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new Error('must be a positive integer');
}

export type Config = {
  databaseUrl: string; schema: string; dataDir: string; embeddedDir: string; embeddedPort: number;
  logLevel: string; logFormat: 'auto' | 'json' | 'pretty'; pluginDirs: string[]; worker: string;
  heartbeatMs: number; progressMs: number; defaultMaxAttempts: number; dbConnectTimeoutMs: number;
  commandAllow: string[];
};

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

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
  const loaded = config.getProperties() as Config;
  loaded.pluginDirs = loaded.pluginDirs.map((d) => d.trim()).filter(Boolean);
  loaded.commandAllow = loaded.commandAllow.map((d) => d.trim()).filter(Boolean);
  return loaded;
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
