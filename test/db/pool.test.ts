// withPoolClient against a server that ends a connection the moment it is ready: the FATAL error
// arrives in the same read as ReadyForQuery, before any await continuation can attach a listener.
// Nothing may crash the process; the work sees a broken client and the pool drops it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { DatabaseUnavailableError, connectClient, createPool, withPoolClient } from '../../src/db/pool.js';
import { loadConfig } from '../../src/config.js';

function message(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

const fields = (pairs: Array<[string, string]>) =>
  Buffer.concat([...pairs.map(([code, text]) => Buffer.from(`${code}${text}\0`, 'utf8')), Buffer.from([0])]);

/** Answers every startup with AuthenticationOk, ReadyForQuery and a FATAL 57P01, in one write. */
let server: net.Server;
let port: number;
beforeAll(async () => {
  server = net.createServer((socket) => {
    socket.once('data', () => {
      const authOk = message('R', Buffer.from([0, 0, 0, 0]));
      const ready = message('Z', Buffer.from('I'));
      const fatal = message('E', fields([['S', 'FATAL'], ['V', 'FATAL'], ['C', '57P01'], ['M', 'terminating connection due to administrator command']]));
      socket.end(Buffer.concat([authOk, ready, fatal]));
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('connectClient', () => {
  it('a connection terminated as it becomes ready: no unhandled error, DatabaseUnavailableError naming the cause', async () => {
    const config = loadConfig({ DATABASE_URL: `postgres://x@127.0.0.1:${port}/x` });
    const err = await connectClient(config).then(() => undefined, (e: Error) => e);
    expect(err).toBeInstanceOf(DatabaseUnavailableError);
    expect(err!.message).toBe('Database connection failed: terminating connection due to administrator command (57P01)');
  });
});

describe('withPoolClient', () => {
  it('a connection terminated as it becomes ready: no unhandled error, the work fails as a lost connection, the pool drops the client', async () => {
    const config = loadConfig({ DATABASE_URL: `postgres://x@127.0.0.1:${port}/x` });
    const pool = createPool(config.databaseUrl, config, 2);
    const poolErrors: Error[] = [];
    pool.on('error', (err) => poolErrors.push(err));
    try {
      const outcome = await withPoolClient(pool, (client) => client.query('SELECT 1')).then(() => 'ran', (err: Error) => err.message);
      expect(outcome).toMatch(/not queryable|terminat/i);
      expect(pool.totalCount).toBe(0);
      expect(poolErrors).toEqual([]);
    } finally {
      await pool.end();
    }
  });
});
