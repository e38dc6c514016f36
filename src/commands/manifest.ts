// `taskpod manifest`: the YAML of exactly the Job the dispatcher would create for a task's next
// launch, so that `taskpod manifest --task-id 5 | kubectl apply -f -` creates what it would.
import { dumpYaml } from '@kubernetes/client-node';
import { loadConfig } from '../config.js';
import { openContext } from '../context.js';
import { buildJob } from '../dispatcher/job-spec.js';
import { loadPodTemplate } from '../dispatcher/pod-template.js';
import { TaskNotFoundError, UsageError, parseJobId, parseTaskId, type TaskRef } from '../tasks/model.js';

export interface ManifestFlags { taskId?: string; jobId?: string }

export function refFromFlags(flags: ManifestFlags): TaskRef {
  const given = [flags.taskId !== undefined, flags.jobId !== undefined].filter(Boolean).length;
  if (given !== 1) {
    throw new UsageError(given === 0
      ? 'You must provide either --task-id or --job-id'
      : 'Provide only one of --task-id or --job-id, not both');
  }
  return flags.taskId !== undefined ? { taskId: parseTaskId(flags.taskId) } : { jobId: parseJobId(flags.jobId!) };
}

export async function manifestCommand(flags: ManifestFlags, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const ref = refFromFlags(flags);
  const config = loadConfig();
  // Before the database: a broken template is a configuration error whatever the task.
  const podTemplate = config.podTemplateFile ? loadPodTemplate(config.podTemplateFile) : undefined;
  const ctx = await openContext(config);
  try {
    const task = await ctx.store.find(ref);
    if (!task) throw new TaskNotFoundError(ref);
    const plugin = await ctx.registry.load(task.task_type);
    const job = buildJob({ task, attempt: task.launches + 1, config, pluginResources: plugin.resources, podTemplate });
    out.write(dumpYaml(job));
    return 0;
  } finally {
    await ctx.close();
  }
}
