// Checks the build the process tests run is there, and starts the embedded server once
// (when DATABASE_URL is unset) so that test files join it instead of racing to create it.
import { existsSync } from 'node:fs';
import { cliPath, embeddedTestDir } from './paths.js';

export default async function setup(): Promise<void> {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run \`npm test\` (it builds first) or \`npm run build\``);
  if (!process.env.DATABASE_URL) {
    const { ensureEmbeddedServer } = await import('../../src/db/embedded.js');
    await ensureEmbeddedServer({ dir: embeddedTestDir() });
  }
}
