// The task directory on the shared volume: ${dataDir}/${job_id}/ with input.json and output.json.
// job_id is checked before it is ever used as a path; output.json is written atomically.
import { promises as fs, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { JOB_ID } from './tasks/model.js';

export const INPUT_FILE = 'input.json';
export const OUTPUT_FILE = 'output.json';

export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

export class TaskFiles {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = path.resolve(dataDir);
  }

  taskDir(jobId: string): string {
    if (!JOB_ID.test(jobId)) throw new Error(`Refusing job_id ${JSON.stringify(jobId)}: not 32 lowercase hex characters`);
    return path.join(this.root, jobId);
  }

  async ensureTaskDir(jobId: string): Promise<string> {
    const dir = this.taskDir(jobId);
    await fs.mkdir(dir, { recursive: true });
    return dir;
  }

  /** Params from input.json: undefined when the file does not exist; InputError when it is not JSON. */
  async readInput(jobId: string): Promise<unknown | undefined> {
    const file = path.join(this.taskDir(jobId), INPUT_FILE);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new InputError(`Cannot read ${file}: ${(err as Error).message}`);
    }
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new InputError(`Invalid JSON in ${file}: ${(err as Error).message}`);
    }
  }

  inputPath(jobId: string): string {
    return path.join(this.taskDir(jobId), INPUT_FILE);
  }

  outputPath(jobId: string): string {
    return path.join(this.taskDir(jobId), OUTPUT_FILE);
  }

  async readOutput(jobId: string): Promise<unknown | undefined> {
    try {
      return JSON.parse(await fs.readFile(this.outputPath(jobId), 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Writes output.json so that readers see either nothing, the old file, or the whole new one. */
  async writeOutput(jobId: string, json: string): Promise<string> {
    const dir = await this.ensureTaskDir(jobId);
    return writeFileAtomic(path.join(dir, OUTPUT_FILE), json + '\n');
  }

  async writeInput(jobId: string, json: string): Promise<string> {
    const dir = await this.ensureTaskDir(jobId);
    return writeFileAtomic(path.join(dir, INPUT_FILE), json);
  }

  /** Copies a file into the task directory under its base name (never overwriting input/output). */
  async attach(jobId: string, source: string): Promise<string> {
    const name = path.basename(source);
    if (name === INPUT_FILE || name === OUTPUT_FILE) throw new InputError(`Cannot attach ${source}: ${name} is reserved`);
    const dir = await this.ensureTaskDir(jobId);
    const target = path.join(dir, name);
    await fs.copyFile(source, target, fsConstants.COPYFILE_EXCL);
    return target;
  }
}

/** temp file in the same directory, fsync, rename, fsync the directory. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<string> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(temp, 'wx', 0o644);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(temp, file);
  } catch (err) {
    await fs.rm(temp, { force: true });
    throw err;
  }
  const dirHandle = await fs.open(path.dirname(file), 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
  return file;
}

/** JSON text of a plugin result, or an error that says why it cannot be serialised. */
export function serialiseResult(result: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(result ?? null, null, 2);
  } catch (err) {
    throw new Error(`Result is not JSON-serialisable: ${(err as Error).message}`);
  }
  if (json === undefined) throw new Error(`Result is not JSON-serialisable: a ${typeof result} has no JSON form`);
  return json;
}
