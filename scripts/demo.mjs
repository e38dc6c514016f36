// `npm run demo`: the README's first command. Submits a seq_toolkit task, runs the dispatcher
// once (its local executor launches the runner as a child process, as it would a Kubernetes
// Job), and prints the result, on the embedded PostgreSQL unless DATABASE_URL is set.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'taskpod.js');
const taskpod = (...args) => {
  console.log(`$ taskpod ${args.map((a) => (/[\s{"]/.test(a) ? `'${a}'` : a)).join(' ')}`);
  return execFileSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { TASKPOD_LOG_LEVEL: 'warn', ...process.env } });
};

const params = { operation: 'translate', sequence: 'ATGGCCATTGTAATGGGCCGCTGAAAGGGTGCCCGATAG' };
const submitted = JSON.parse(taskpod('submit', 'seq_toolkit', '--params', JSON.stringify(params), '--json'));
console.log(JSON.stringify(submitted));
taskpod('dispatch', '--executor', 'local', '--once');
const shown = JSON.parse(taskpod('show', String(submitted.task_id), '--json'));
console.log(JSON.stringify({ task_id: shown.id, status: shown.status, attempts: shown.attempts, output: shown.output }, null, 2));
if (shown.status !== 'completed') process.exit(1);
