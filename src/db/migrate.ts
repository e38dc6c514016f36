// Numbered SQL migrations, applied in order inside one transaction under an advisory lock,
// recorded in <schema>.migrations. Idempotent, and safe from several processes at once.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { quoteIdent } from './pool.js';
import { migrationsDir } from '../paths.js';

export interface Migration { id: number; name: string; sql: string }

export function readMigrations(dir = migrationsDir): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((file) => ({ id: Number(file.slice(0, 3)), name: file.replace(/\.sql$/, ''), sql: readFileSync(path.join(dir, file), 'utf8') }));
}

/** Applies pending migrations; returns the names applied (empty when up to date). */
export async function migrate(client: pg.ClientBase, schema: string, migrations = readMigrations()): Promise<string[]> {
  const s = quoteIdent(schema);
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`taskpod-migrate:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.migrations (
      id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ id: number }>(`SELECT id FROM ${s}.migrations`);
    const applied = new Set(rows.map((r) => r.id));
    const done: string[] = [];
    await client.query(`SET LOCAL search_path TO ${s}, public`);
    for (const m of migrations) {
      if (applied.has(m.id)) continue;
      await client.query(m.sql);
      await client.query(`INSERT INTO ${s}.migrations (id, name) VALUES ($1, $2)`, [m.id, m.name]);
      done.push(m.name);
    }
    await client.query('COMMIT');
    return done;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** True when every known migration has been applied (one cheap query). */
export async function isMigrated(client: pg.ClientBase, schema: string, migrations = readMigrations()): Promise<boolean> {
  const latest = migrations.at(-1)?.id ?? 0;
  const { rows } = await client.query<{ ok: boolean }>(
    `SELECT to_regclass($1) IS NOT NULL AS ok`, [`${quoteIdent(schema)}.migrations`]);
  if (!rows[0].ok) return false;
  const res = await client.query<{ max: number | null }>(`SELECT max(id) AS max FROM ${quoteIdent(schema)}.migrations`);
  return (res.rows[0].max ?? 0) >= latest;
}
