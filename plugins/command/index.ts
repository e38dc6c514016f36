// command: runs an allow-listed executable with arguments, without a shell.
// stdout and stderr go to files in the task directory; the exit status decides success.
import path from 'node:path';
import { execa } from 'execa';
import { z } from 'zod';
import { definePlugin } from '../../src/plugins.js';

const params = z.strictObject({
  command: z.string().min(1).describe('executable name (looked up on PATH) or absolute path; must be in TASKPOD_COMMAND_ALLOW'),
  args: z.array(z.string()).default([]).describe('arguments, passed as they are: never interpreted by a shell'),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).default({}).describe('extra environment variables'),
});

export const STDOUT_FILE = 'stdout.txt';
export const STDERR_FILE = 'stderr.txt';

export default definePlugin({
  type: 'command',
  description: 'Run an allow-listed executable with arguments (no shell); stdout/stderr saved in the task directory',
  params,
  resources: { requests: { cpu: '100m', memory: '128Mi' } },
  async execute({ command, args, env }, ctx) {
    const allowed = ctx.config.commandAllow;
    if (!allowed.includes(command)) {
      throw new Error(`command: ${JSON.stringify(command)} is not allowed; allowed: ${allowed.length ? allowed.join(', ') : 'none (set TASKPOD_COMMAND_ALLOW)'}`);
    }
    if (!path.isAbsolute(command) && command.includes('/')) {
      throw new Error(`command: ${JSON.stringify(command)} must be a bare name or an absolute path`);
    }
    const started = Date.now();
    ctx.logger.info({ command, argCount: args.length }, 'Running command');
    const result = await execa(command, args, {
      cwd: ctx.taskDir,
      env,
      shell: false,
      reject: false,
      cancelSignal: ctx.signal,
      forceKillAfterDelay: 2_000,
      stdin: 'ignore',
      stdout: { file: path.join(ctx.taskDir, STDOUT_FILE) },
      stderr: { file: path.join(ctx.taskDir, STDERR_FILE) },
    });
    if (result.isCanceled) throw ctx.signal.reason ?? new Error('command: cancelled');
    const summary = { exit_code: result.exitCode ?? null, signal: result.signal ?? null, duration_ms: Date.now() - started, stdout_file: STDOUT_FILE, stderr_file: STDERR_FILE };
    if (result.failed) {
      const why = result.code === 'ENOENT' ? 'executable not found'
        : result.signal ? `killed by ${result.signal}` : `exited with code ${result.exitCode}`;
      throw new Error(`command: ${command} ${why} (stderr in ${STDERR_FILE})`);
    }
    return summary;
  },
});
