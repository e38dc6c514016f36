// The committed fixtures are what scripts/gen-seq-fixtures.py makes with the installed Biopython
// (Debian python3-biopython, under /usr/bin/python3). Skipped only where Biopython is missing.
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtures } from './helpers.js';

const script = path.resolve(import.meta.dirname, '../../../scripts/gen-seq-fixtures.py');
const python = '/usr/bin/python3';
const biopython = spawnSync(python, ['-c', 'import Bio; print(Bio.__version__)'], { encoding: 'utf8' });
const committedVersion = (JSON.parse((await readFile(path.join(fixtures, 'codons.json'), 'utf8'))) as { biopython: string }).biopython;
const usable = biopython.status === 0 && biopython.stdout.trim() === committedVersion;

describe.skipIf(!usable)(`fixtures regenerate identically with Biopython ${committedVersion}`, () => {
  it('scripts/gen-seq-fixtures.py writes the committed files', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'seq-fixtures-'));
    try {
      const r = spawnSync(python, [script, '--out', out], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const names = (await readdir(fixtures)).filter((f) => f.endsWith('.json')).sort();
      expect((await readdir(out)).sort()).toEqual(names);
      for (const name of names) {
        const fresh = await readFile(path.join(out, name), 'utf8');
        const committed = await readFile(path.join(fixtures, name), 'utf8');
        expect(fresh === committed, `${name} differs: run /usr/bin/python3 scripts/gen-seq-fixtures.py`).toBe(true);
      }
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 120_000);
});
