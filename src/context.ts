// Builds what a command needs from the configuration: logger, one database connection,
// the task store, the task files and the plugin registry.
import os from 'node:os';
import type pg from 'pg';
import { loadConfig, type Config } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { connectClient } from './db/pool.js';
import { isMigrated, migrate } from './db/migrate.js';
import { TaskStore } from './tasks/store.js';
import { TaskFiles } from './storage.js';
import { PluginRegistry } from './plugins.js';
import { builtinPluginDir } from './paths.js';

export interface Context {
  config: Config;
  logger: Logger;
  client: pg.Client;
  store: TaskStore;
  files: TaskFiles;
  registry: PluginRegistry;
  close(): Promise<void>;
}

export function loadLogger(config: Config): Logger {
  const pretty = config.logFormat === 'auto' ? undefined : config.logFormat === 'pretty';
  return createLogger({ level: config.logLevel, pretty });
}

export function createRegistry(config: Config): PluginRegistry {
  return new PluginRegistry([...config.pluginDirs, builtinPluginDir]);
}

export function workerName(config: Config): string {
  return config.worker || `${os.hostname()}/${process.pid}`;
}

export async function openContext(config: Config = loadConfig(), logger: Logger = loadLogger(config), applicationName = 'taskpod'): Promise<Context> {
  const client = await connectClient(config, applicationName);
  // The embedded database is ours: set it up on first use so a laptop needs no extra step.
  if (!config.databaseUrl && !(await isMigrated(client, config.schema))) {
    const applied = await migrate(client, config.schema);
    if (applied.length) logger.info({ applied }, 'Migrated the embedded database');
  }
  return {
    config, logger, client,
    store: new TaskStore(client, config.schema),
    files: new TaskFiles(config.dataDir),
    registry: createRegistry(config),
    close: () => client.end().catch(() => undefined),
  };
}
