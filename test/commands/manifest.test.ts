// `taskpod manifest` against a real database: the YAML is exactly buildJob's Job for the next launch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadYaml, type V1Job } from '@kubernetes/client-node';
import { runCli } from '../support/cli.js';
import { loadConfig } from '../../src/config.js';
import { buildJob } from '../../src/dispatcher/job-spec.js';
import { loadPodTemplate } from '../../src/dispatcher/pod-template.js';
import { setupTestDb, type TestDb } from '../support/db.js';
import { expectValidObject } from '../support/k8s-schema.js';

let db: TestDb;
let work: string;
let pluginDir: string;

beforeAll(async () => {
  db = await setupTestDb('manifest');
  work = mkdtempSync(path.join(os.tmpdir(), 'taskpod-manifest-'));
  // A plugin with resource hints, outside the package.
  pluginDir = path.join(work, 'plugins');
  mkdirSync(path.join(pluginDir, 'hinted'), { recursive: true });
  writeFileSync(path.join(pluginDir, 'hinted', 'index.mjs'), `export default ({ z, definePlugin }) => definePlugin({
  type: 'hinted', description: 'has resource hints', params: z.object({}).passthrough(),
  resources: { requests: { cpu: '500m', memory: '256Mi' }, limits: { memory: '1Gi' } },
  execute: () => ({}),
});\n`);
});
afterAll(async () => {
  await db?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The built CLI as a child process, with exactly this taskpod environment. */
const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, db.env({ TASKPOD_PLUGIN_DIRS: pluginDir, ...extra }));

async function insert(taskType: string, fields: { timeout?: number; resources?: object; launches?: number } = {}) {
  const { rows } = await db.client.query(
    `INSERT INTO "${db.schema}".tasks (task_type, params, max_attempts, timeout_seconds, resources, launches)
     VALUES ($1, '{}', 3, $2, $3, $4) RETURNING id, job_id`,
    [taskType, fields.timeout ?? null, fields.resources ? JSON.stringify(fields.resources) : null, fields.launches ?? 0],
  );
  return rows[0] as { id: number; job_id: string };
}

const taskContainer = (job: V1Job) => job.spec!.template.spec!.containers.find((c) => c.name === 'task')!;

describe('taskpod manifest', () => {
  it('prints the Job of the next launch: name, args, plugin hints under the per-task override', async () => {
    const t = await insert('hinted', { timeout: 300, launches: 2, resources: { requests: { cpu: '2' }, limits: { memory: '3Gi' } } });
    const r = await cli(['manifest', '--task-id', String(t.id)], { TASKPOD_NAMESPACE: 'batch', TASKPOD_IMAGE: 'example/taskpod:9' });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const job = loadYaml<V1Job>(r.stdout);
    expectValidObject(JSON.parse(JSON.stringify(job)));
    expect(job.metadata!.name).toBe(`taskpod-${t.id}-3`);
    expect(job.metadata!.namespace).toBe('batch');
    expect(job.metadata!.annotations!['taskpod.dev/job-id']).toBe(t.job_id);
    expect(job.spec!.activeDeadlineSeconds).toBe(360);
    const c = taskContainer(job);
    expect(c.image).toBe('example/taskpod:9');
    expect(c.args).toEqual(['run', '--task-id', String(t.id)]);
    expect(c.resources).toEqual({ requests: { cpu: '2', memory: '256Mi' }, limits: { memory: '3Gi' } });

    // exactly buildJob's Job, as the dispatcher builds it
    const config = loadConfig({ ...db.env({ TASKPOD_PLUGIN_DIRS: pluginDir, TASKPOD_NAMESPACE: 'batch', TASKPOD_IMAGE: 'example/taskpod:9' }) });
    const task = (await db.task(t.id));
    const expected = buildJob({ task, attempt: 3, config, pluginResources: { requests: { cpu: '500m', memory: '256Mi' }, limits: { memory: '1Gi' } } });
    expect(JSON.parse(JSON.stringify(job))).toEqual(JSON.parse(JSON.stringify(expected)));
  });

  it('--job-id works the same, and the per-type configuration sits between hints and the task', async () => {
    const t = await insert('hinted');
    const r = await cli(['manifest', '--job-id', t.job_id], { TASKPOD_TYPE_RESOURCES: '{"hinted": {"limits": {"memory": "2Gi", "cpu": "1"}}}' });
    expect(r.exitCode).toBe(0);
    const job = loadYaml<V1Job>(r.stdout);
    expect(job.metadata!.name).toBe(`taskpod-${t.id}-1`);
    expect(job.spec).not.toHaveProperty('activeDeadlineSeconds');
    expect(taskContainer(job).resources).toEqual({ requests: { cpu: '500m', memory: '256Mi' }, limits: { memory: '2Gi', cpu: '1' } });
  });

  it('includes the pod template file', async () => {
    const t = await insert('hinted');
    const templateFile = path.join(work, 'pod-template.yaml');
    writeFileSync(templateFile, `apiVersion: v1
kind: Pod
metadata: {labels: {team: genomics}}
spec:
  nodeSelector: {pool: batch}
  tolerations: [{key: batch, operator: Exists, effect: NoSchedule}]
  volumes: [{name: refs, configMap: {name: refs}}]
  containers:
  - name: task
    volumeMounts: [{name: refs, mountPath: /refs}]
  - name: sidecar
    image: busybox
`);
    const r = await cli(['manifest', '--task-id', String(t.id)], { TASKPOD_POD_TEMPLATE_FILE: templateFile });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const job = loadYaml<V1Job>(r.stdout);
    expectValidObject(JSON.parse(JSON.stringify(job)));
    const pod = job.spec!.template;
    expect(pod.metadata!.labels!.team).toBe('genomics');
    expect(pod.spec!.nodeSelector).toEqual({ pool: 'batch' });
    expect(pod.spec!.containers.map((c) => c.name)).toEqual(['task', 'sidecar']);
    const config = loadConfig(db.env({ TASKPOD_PLUGIN_DIRS: pluginDir }));
    const expected = buildJob({ task: (await db.task(t.id)), attempt: 1, config, podTemplate: loadPodTemplate(templateFile),
      pluginResources: { requests: { cpu: '500m', memory: '256Mi' }, limits: { memory: '1Gi' } } });
    expect(JSON.parse(JSON.stringify(job))).toEqual(JSON.parse(JSON.stringify(expected)));
  });

  it('a pod template file that does not exist: exit 2 naming the file', async () => {
    const t = await insert('hinted');
    const missing = path.join(work, 'nope', 'template.yaml');
    const r = await cli(['manifest', '--task-id', String(t.id)], { TASKPOD_POD_TEMPLATE_FILE: missing });
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(missing);
    expect(r.stderr).toContain('no such file');
  });

  it('an unknown task type: exit 1 naming the type', async () => {
    const t = await insert('no_such_type');
    const r = await cli(['manifest', '--task-id', String(t.id)]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('ERROR: Business error: Unsupported task type: no_such_type');
  });

  it('a task that does not exist: exit 1', async () => {
    const r = await cli(['manifest', '--task-id', '999999999']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('ERROR: Business error: Task not found: task_id=999999999');
    const byJobId = await cli(['manifest', '--job-id', 'f'.repeat(32)]);
    expect(byJobId.exitCode).toBe(1);
    expect(byJobId.stderr).toContain(`Task not found: job_id=${'f'.repeat(32)}`);
  });

  it('bad or conflicting flags: exit 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['manifest'], /You must provide either --task-id or --job-id/],
      [['manifest', '--task-id', '1', '--job-id', 'a'.repeat(32)], /Provide only one of --task-id or --job-id/],
      [['manifest', '--task-id', 'abc'], /--task-id must be a positive integer, got "abc"/],
      [['manifest', '--task-id', '0'], /--task-id must be a positive integer/],
      [['manifest', '--job-id', 'XYZ'], /--job-id must be 32 lowercase hexadecimal characters/],
      [['manifest', '--bogus'], /unknown option '--bogus'/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(message);
    }
  });
});
