// The command line: parses argv, calls one function per command, maps outcomes to exit codes.
// Command modules are imported lazily so that `run` loads only what a run needs.
import { Command, CommanderError, Option } from 'commander';
import { packageVersion } from './paths.js';

const EXIT_USAGE = 2;
const EXIT_TEMPFAIL = 75;

type Action = (...args: any[]) => Promise<number>;

/** Builds the program; each action's exit code is handed to onExitCode (commander discards return values). */
function buildProgram(onExitCode: (code: number) => void): Command {
  const act = (fn: Action) => async (...args: any[]) => onExitCode(await fn(...args));
  const program = new Command('taskpod')
    .description('Run background tasks as Kubernetes Jobs, with PostgreSQL as the source of truth')
    .version(packageVersion())
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');

  program.command('run')
    .description('Execute one task: the runner a Job, CronJob or crontab line calls')
    .option('--task-id <id>', 'task id (database primary key)')
    .option('--job-id <hex>', 'task job_id (32 lowercase hex characters)')
    .option('--next', 'take the oldest runnable pending task by priority')
    .action(act(async (flags) => (await import('./commands/run.js')).runCommand(flags)));

  program.command('dispatch')
    .description('Launch runnable tasks (one Kubernetes Job per task, or local processes) and reconcile until each ends')
    .addOption(new Option('--executor <kind>', 'kubernetes or local (default: TASKPOD_EXECUTOR, auto)').choices(['kubernetes', 'local']))
    .option('--once', 'claim, launch and reconcile once, then exit')
    .action(act(async (flags) => (await import('./commands/dispatch.js')).dispatchCommand(flags)));

  program.command('manifest')
    .description('Print the YAML of the Job the dispatcher would create for a task (for kubectl apply -f -)')
    .option('--task-id <id>', 'task id (database primary key)')
    .option('--job-id <hex>', 'task job_id (32 lowercase hex characters)')
    .action(act(async (flags) => (await import('./commands/manifest.js')).manifestCommand(flags)));

  program.command('migrate')
    .description('Create or upgrade the taskpod schema (idempotent)')
    .action(act(async () => (await import('./commands/admin.js')).migrateCommand()));

  program.command('submit')
    .description('Create a task; prints its task_id and job_id')
    .argument('<type>', 'task type (a plugin)')
    .option('--params <json>', 'params as JSON, stored in the params column')
    .option('--params-file <file>', 'params from a JSON file, stored in the params column')
    .option('--input-file <file>', 'JSON file copied to the task directory as input.json (params column stays null)')
    .option('--attach <file>', 'copy a file into the task directory under its base name (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--max-attempts <n>', 'attempts allowed (default TASKPOD_MAX_ATTEMPTS)')
    .option('--timeout <seconds>', 'time limit for one attempt')
    .option('--priority <n>', 'higher runs first (default 0)')
    .option('--resources <json>', 'Job resources for this task, e.g. \'{"limits":{"memory":"2Gi"}}\' (over the plugin\'s and TASKPOD_TYPE_RESOURCES)')
    .option('--dedupe-key <key>', 'submit once per key: if a task has this key, print it instead of making another (e.g. a CronJob\'s Job name)')
    .option('--wait', 'wait until the task finishes; exit 0 if it completed, 1 if it failed or was cancelled')
    .option('--wait-timeout <seconds>', 'with --wait, give up (exit 1) after this many seconds (default: no limit)')
    .option('--json', 'print {"task_id": N, "job_id": "...", "created": true|false}; with --wait, also status and error_message')
    .action(act(async (type, flags) => (await import('./commands/tasks.js')).submitCommand(type, flags)));

  program.command('show')
    .description('Show a task by task_id or job_id, with its output')
    .argument('<id>', 'task_id or job_id')
    .option('--json', 'machine-readable output')
    .action(act(async (id, flags) => (await import('./commands/tasks.js')).showCommand(id, flags)));

  program.command('list')
    .description('List tasks, newest first')
    .addOption(new Option('--status <status>', 'only this status'))
    .option('--type <type>', 'only this task type')
    .option('--limit <n>', 'at most this many (default 100)')
    .option('--json', 'machine-readable output')
    .action(act(async (flags) => (await import('./commands/tasks.js')).listCommand(flags)));

  program.command('cancel')
    .description('Cancel a pending, queued or running task')
    .argument('<id>', 'task_id or job_id')
    .action(act(async (id) => (await import('./commands/tasks.js')).cancelCommand(id)));

  program.command('retry')
    .description('Make a failed or cancelled task pending again')
    .argument('<id>', 'task_id or job_id')
    .action(act(async (id) => (await import('./commands/tasks.js')).retryCommand(id)));

  program.command('plugins')
    .description('List task types and their params schema')
    .option('--json', 'each plugin with its params as JSON Schema')
    .action(act(async (flags) => (await import('./commands/admin.js')).pluginsCommand(flags)));

  program.command('config')
    .description('Print the effective configuration (secrets masked)')
    .option('--json', 'machine-readable output')
    .action(act(async (flags) => (await import('./commands/admin.js')).configCommand(flags)));

  program.command('db')
    .description('The embedded PostgreSQL server used when DATABASE_URL is unset')
    .argument('<action>', 'status, start or stop')
    .action(act(async (action) => (await import('./commands/admin.js')).dbCommand(action)));

  return program;
}

/** Runs the CLI and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = buildProgram((code) => { exitCode = code; });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    return reportError(err);
  }
}

async function reportError(err: unknown): Promise<number> {
  if (err instanceof CommanderError) {
    return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' ? 0 : EXIT_USAGE;
  }
  const e = err as Error & { code?: string };
  const name = e?.name;
  const say = (line: string) => process.stderr.write(line + '\n');
  switch (name) {
    case 'UsageError':
      say(`error: ${e.message}`);
      return EXIT_USAGE;
    case 'ConfigError':
      say(`error: ${e.message}`);
      return EXIT_USAGE;
    case 'WaitTimeoutError':
      say(`ERROR: ${e.message}`);
      return 1;
    case 'DatabaseUnavailableError':
      say(`ERROR: ${e.message}`);
      return EXIT_TEMPFAIL;
    case 'BusinessError':
    case 'UnsupportedTaskTypeError':
    case 'InvalidParamsError':
    case 'InputError':
      say(`ERROR: Business error: ${e.message}`);
      return 1;
  }
  if (e?.code === '42P01' || e?.code === '3F000') {
    say(`ERROR: the taskpod tables do not exist in this database (${e.message}): run \`taskpod migrate\` first`);
    return 1;
  }
  if (e?.code === '42703') {
    say(`ERROR: the taskpod tables are older than this taskpod (${e.message}): run \`taskpod migrate\` first`);
    return 1;
  }
  const { isConnectionError, describeDbError } = await import('./db/pool.js');
  if (isConnectionError(err)) {
    say(`ERROR: Database unavailable: ${describeDbError(err)}`);
    return EXIT_TEMPFAIL;
  }
  say(`ERROR: ${e?.stack ?? String(err)}`);
  return 1;
}
