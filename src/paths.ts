// Where taskpod's own files are, found from the package root so that the same code works
// from the TypeScript sources (tests) and from the bundle in dist/ (CLI, image).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'taskpod') return dir;
    if (path.dirname(dir) === dir) throw new Error(`taskpod's package.json not found above ${from}`);
  }
}

export const packageRoot = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));
export const migrationsDir = path.join(packageRoot, 'src', 'db', 'migrations');
/** The bundled CLI, which the local executor launches as `taskpod run --task-id N`. */
export const cliPath = path.join(packageRoot, 'dist', 'taskpod.js');
/** The built-in plugins, bundled: dist/plugins/<type>/index.js. */
export const builtinPluginDir = path.join(packageRoot, 'dist', 'plugins');

export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
}
