// Node 21+ defines globalThis.navigator; Node 20 does not, and pg then probes for Cloudflare
// Workers by constructing a fetch Response, which loads undici (~16 ms of every `taskpod run`).
// Defining navigator as newer Node does skips that probe.
const g = globalThis as { navigator?: { userAgent: string } };
if (g.navigator === undefined) {
  Object.defineProperty(g, 'navigator', { value: { userAgent: `Node.js/${process.versions.node.split('.')[0]}` }, configurable: true, writable: true });
}
