// Database connections: DATABASE_URL, or the embedded server when it is unset.
// Connection failures become DatabaseUnavailableError so that `run` can exit 75.
import pg from 'pg';
import type { Config } from '../config.js';

export type Queryable = Pick<pg.ClientBase, 'query'>;

export class DatabaseUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DatabaseUnavailableError';
  }
}

// bigint ids and counts as JS numbers (task ids stay far below 2^53); timestamps stay Dates.
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

export async function resolveDatabaseUrl(config: Config): Promise<string> {
  if (config.databaseUrl) return config.databaseUrl;
  const { ensureEmbeddedServer } = await import('./embedded.js');
  return ensureEmbeddedServer({ dir: config.embeddedDir, port: config.embeddedPort || undefined });
}

export async function connectClient(config: Config, applicationName = 'taskpod'): Promise<pg.Client> {
  const connectionString = await resolveDatabaseUrl(config);
  const client = new pg.Client({
    connectionString,
    types,
    connectionTimeoutMillis: config.dbConnectTimeoutMs,
    application_name: applicationName,
  });
  // A connection ended as soon as it is ready errs in the same read as ReadyForQuery, before the
  // caller can listen: hold that error here, or the process would crash on an unhandled 'error'.
  let lostAtOnce: Error | undefined;
  const onError = (err: Error) => { lostAtOnce ??= err; };
  client.on('error', onError);
  try {
    await client.connect();
    if (lostAtOnce) throw lostAtOnce;
  } catch (err) {
    client.end().catch(() => undefined);
    throw new DatabaseUnavailableError(`Database connection failed: ${describeDbError(err)}`, { cause: err });
  } finally {
    client.off('error', onError);
  }
  return client;
}

export function createPool(connectionString: string, config: Config, max = 10, applicationName = 'taskpod'): pg.Pool {
  return new pg.Pool({ connectionString, types, max, connectionTimeoutMillis: config.dbConnectTimeoutMs, application_name: applicationName });
}

/**
 * Runs work on a client checked out of the pool. A checked-out client that loses its connection
 * emits 'error' with no pool listener attached, which would crash the process: listen while it
 * is out, and hand a broken client back as broken so the pool drops it.
 * The listener goes on in pool.connect's callback, not after `await pool.connect()`: a backend
 * terminated as it finishes starting sends its FATAL error in the same read as ReadyForQuery, and
 * pg emits it before an await's continuation runs (it crashed the dispatcher under load).
 */
export async function withPoolClient<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  let broken: Error | undefined;
  const onError = (err: Error) => { broken = err; };
  const client = await new Promise<pg.PoolClient>((resolve, reject) => {
    pool.connect((err, checkedOut) => {
      if (err || !checkedOut) return reject(err ?? new Error('pool.connect returned no client'));
      checkedOut.on('error', onError);
      resolve(checkedOut);
    });
  });
  try {
    return await work(client);
  } catch (err) {
    if (isConnectionError(err)) broken = err as Error;
    throw err;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/** True for errors that mean the server is unreachable or went away (not a bad query). */
export function isConnectionError(err: unknown): boolean {
  if (err instanceof DatabaseUnavailableError) return true;
  const e = err as { code?: string; message?: string } | undefined;
  const code = e?.code ?? '';
  if (['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EAI_AGAIN', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code)) return true;
  if (/^08/.test(code) || ['57P01', '57P02', '57P03', '53300'].includes(code)) return true;
  return /Connection terminated|connection timeout|Client has encountered a connection error|not queryable/i.test(e?.message ?? '');
}

export function describeDbError(err: unknown): string {
  const e = err as { code?: string; message?: string; errors?: Array<{ message?: string }> };
  // AggregateError (IPv4 + IPv6 attempts) has an empty message; its parts say what happened.
  const message = e?.message || e?.errors?.map((x) => x.message).join('; ') || String(err);
  return e?.code && !message.includes(e.code) ? `${message} (${e.code})` : message;
}

export function quoteIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}
