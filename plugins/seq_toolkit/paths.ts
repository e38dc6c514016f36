// fasta_file must name a regular file inside the task directory, also after resolving symlinks.
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { SeqToolkitError } from './alphabet.js';

function inside(dir: string, target: string): boolean {
  const rel = path.relative(dir, target);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** The real path of `file` (relative to taskDir), refused when it is absolute or leads outside. */
export async function resolveTaskFile(taskDir: string, file: string, field = 'fasta_file'): Promise<string> {
  if (path.isAbsolute(file)) throw new SeqToolkitError(`${field}: must be a path relative to the task directory, not an absolute path`);
  if (file.includes('\0')) throw new SeqToolkitError(`${field}: contains a NUL byte`);
  const dir = await realpath(taskDir);
  const lexical = path.resolve(dir, file);
  if (!inside(dir, lexical)) throw new SeqToolkitError(`${field}: must stay inside the task directory (no '..' leading out)`);
  let real: string;
  try {
    real = await realpath(lexical);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new SeqToolkitError(`${field}: file not found in the task directory: ${file}`);
    throw err;
  }
  if (!inside(dir, real)) throw new SeqToolkitError(`${field}: resolves (through a symlink) to a place outside the task directory`);
  const st = await stat(real);
  if (!st.isFile()) throw new SeqToolkitError(`${field}: not a regular file: ${file}`);
  return real;
}
