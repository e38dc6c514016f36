// migrate, config, plugins, db: set-up and inspection commands.
import { loadConfig, describeConfig, maskUrl } from '../config.js';
import { loadLogger, createRegistry } from '../context.js';
import { connectClient } from '../db/pool.js';
import { migrate } from '../db/migrate.js';
import { paramsJsonSchema } from '../plugins.js';
import { UsageError } from '../tasks/model.js';

export async function migrateCommand(out = process.stdout): Promise<number> {
  const config = loadConfig();
  const client = await connectClient(config);
  try {
    const applied = await migrate(client, config.schema);
    out.write(applied.length
      ? `Applied ${applied.length} migration(s) to schema ${config.schema}: ${applied.join(', ')}\n`
      : `Schema ${config.schema} is up to date\n`);
    return 0;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function configCommand(flags: { json?: boolean }, out = process.stdout): Promise<number> {
  const entries = describeConfig(loadConfig());
  if (flags.json) {
    out.write(JSON.stringify(Object.fromEntries(entries.map((e) => [e.key, e.value])), null, 2) + '\n');
  } else {
    for (const e of entries) out.write(`${e.env.padEnd(30)} ${JSON.stringify(e.value)}\n`);
  }
  return 0;
}

export async function pluginsCommand(flags: { json?: boolean }, out = process.stdout): Promise<number> {
  const config = loadConfig();
  const registry = createRegistry(config);
  const plugins = await Promise.all(registry.types().map((type) => registry.load(type)));
  if (flags.json) {
    out.write(JSON.stringify(plugins.map((p) => ({
      type: p.type, description: p.description, resources: p.resources ?? null, params_schema: paramsJsonSchema(p),
    })), null, 2) + '\n');
  } else {
    for (const p of plugins) out.write(`${p.type.padEnd(16)} ${p.description}\n`);
  }
  return 0;
}

export async function dbCommand(action: string, out = process.stdout): Promise<number> {
  const config = loadConfig();
  if (config.databaseUrl) {
    out.write(`DATABASE_URL is set (${maskUrl(config.databaseUrl)}): the embedded database is not in use\n`);
    return action === 'status' ? 0 : 1;
  }
  const embedded = await import('../db/embedded.js');
  const logger = loadLogger(config);
  const opts = { dir: config.embeddedDir, port: config.embeddedPort || undefined, log: (msg: string) => logger.info(msg) };
  if (action === 'status') {
    const status = await embedded.embeddedStatus(opts);
    out.write(JSON.stringify(status, null, 2) + '\n');
    return 0;
  }
  if (action === 'start') {
    const url = await embedded.ensureEmbeddedServer(opts);
    out.write(`Embedded PostgreSQL running: ${maskUrl(url)}\n`);
    return 0;
  }
  if (action === 'stop') {
    out.write((await embedded.stopEmbeddedServer(opts)) ? 'Embedded PostgreSQL stopped\n' : 'Embedded PostgreSQL was not running\n');
    return 0;
  }
  throw new UsageError(`db takes status, start or stop, got ${JSON.stringify(action)}`);
}
