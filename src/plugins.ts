// The plugin contract, the registry of task types, and lazy loading by type.
// A runner imports only the plugin it runs; `taskpod plugins` imports them all.
import { readdirSync, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import type { Logger } from './logger.js';
import type { Config } from './config.js';

export interface PluginContext {
  taskId: number;
  jobId: string;
  attempt: number;
  /** The task's own directory on the shared volume; plugins read and write only here. */
  taskDir: string;
  /** Aborted on SIGTERM, on the task's timeout_seconds, and when the task is cancelled. */
  signal: AbortSignal;
  logger: Logger;
  /** Reports progress: fraction in 0..1 and an optional short message. Cheap to call often. */
  progress(fraction: number, message?: string): void;
  /** taskpod's configuration, for plugins with settings of their own (e.g. command's allow-list). */
  config: Readonly<Config>;
}

export interface ResourceHints {
  requests?: { cpu?: string; memory?: string };
  limits?: { cpu?: string; memory?: string };
}

export interface Plugin<S extends z.ZodType = z.ZodType> {
  type: string;
  description: string;
  /** Validated before execute(); a failure names the field. Exported as JSON Schema. */
  params: S;
  resources?: ResourceHints;
  /** Returns a JSON-serialisable result, written to output.json. */
  execute(params: z.infer<S>, ctx: PluginContext): unknown | Promise<unknown>;
}

export function definePlugin<S extends z.ZodType>(plugin: Plugin<S>): Plugin<S> {
  return plugin;
}

/** What a plugin module outside this package receives when its default export is a function. */
export const pluginSdk = { z, definePlugin };
export type PluginSdk = typeof pluginSdk;

export class UnsupportedTaskTypeError extends Error {
  constructor(readonly taskType: string) {
    super(`Unsupported task type: ${taskType}`);
    this.name = 'UnsupportedTaskTypeError';
  }
}

export class InvalidParamsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidParamsError';
  }
}

const TYPE_NAME = /^[a-z][a-z0-9_]{0,62}$/;
const ENTRY_FILES = ['index.js', 'index.mjs'];


export class PluginRegistry {
  private readonly cache = new Map<string, Promise<Plugin>>();

  /** Directories searched in order; a type found in an earlier directory wins. */
  constructor(private readonly dirs: string[]) {}

  /** The module file for a task type, or undefined. Only names that are safe as a path segment. */
  entryFor(type: string): string | undefined {
    if (!TYPE_NAME.test(type)) return undefined;
    for (const dir of this.dirs) {
      for (const file of ENTRY_FILES) {
        const candidate = path.join(dir, type, file);
        if (existsSync(candidate)) return candidate;
      }
    }
    return undefined;
  }

  types(): string[] {
    const found = new Set<string>();
    for (const dir of this.dirs) {
      if (!existsSync(dir)) continue;
      for (const name of readdirSync(dir)) {
        if (TYPE_NAME.test(name) && statSync(path.join(dir, name)).isDirectory() && this.entryFor(name)) found.add(name);
      }
    }
    return [...found].sort();
  }

  load(type: string): Promise<Plugin> {
    let loading = this.cache.get(type);
    if (!loading) {
      loading = this.importPlugin(type);
      this.cache.set(type, loading);
    }
    return loading;
  }

  private async importPlugin(type: string): Promise<Plugin> {
    const entry = this.entryFor(type);
    if (!entry) throw new UnsupportedTaskTypeError(type);
    const mod = await import(pathToFileURL(entry).href);
    const exported = mod.default;
    const plugin: Plugin = typeof exported === 'function' ? await exported(pluginSdk) : exported;
    if (!plugin || typeof plugin.execute !== 'function' || !plugin.params || plugin.type !== type) {
      throw new Error(`Plugin ${entry} does not export a plugin for type ${type} (default export with type, params and execute)`);
    }
    return plugin;
  }
}

/** Validates params against the plugin's schema; the error names each offending field. */
export function validateParams(plugin: Plugin, params: unknown): unknown {
  const parsed = plugin.params.safeParse(params);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const field = issue.path.length ? issue.path.join('.') : '(params)';
    return `${field}: ${issue.message}`;
  });
  throw new InvalidParamsError(`Invalid params for ${plugin.type}: ${problems.join('; ')}`);
}

export function paramsJsonSchema(plugin: Plugin): unknown {
  return z.toJSONSchema(plugin.params, { io: 'input', unrepresentable: 'any' });
}
