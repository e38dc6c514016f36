// What bench/dispatcher.bench.mjs needs from the TypeScript sources, bundled at bench time
// (esbuild, packages external) into a directory under node_modules/.cache so that the bundle
// resolves pg and @kubernetes/client-node, and finds taskpod's package root, from there.
export { KubeApiDouble } from '../../test/support/kube-api-double.js';
export { TaskStore } from '../../src/tasks/store.js';
export { createPool, connectClient, resolveDatabaseUrl } from '../../src/db/pool.js';
export { loadConfig } from '../../src/config.js';
export { migrate } from '../../src/db/migrate.js';
