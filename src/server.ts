// /healthz (the process loop is alive), /readyz (database and executor backend reachable) and
// /metrics (Prometheus text) for the dispatcher.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HealthSource {
  healthy(): boolean;
  ready(): Promise<{ ok: boolean } & Record<string, unknown>>;
}

export interface StatusServer {
  port: number;
  close(): Promise<void>;
}

export async function startStatusServer(source: HealthSource, registry: Registry, host: string, port: number): Promise<StatusServer> {
  const server = http.createServer((req, res) => {
    void respond(req.url ?? '/', source, registry).then(({ status, type, body }) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

async function respond(url: string, source: HealthSource, registry: Registry): Promise<{ status: number; type: string; body: string }> {
  const json = (status: number, value: unknown) => ({ status, type: 'application/json', body: JSON.stringify(value) + '\n' });
  try {
    switch (url.split('?')[0]) {
      case '/healthz':
        return source.healthy() ? json(200, { ok: true }) : json(503, { ok: false, reason: 'shutting down' });
      case '/readyz': {
        const ready = await source.ready();
        return json(ready.ok ? 200 : 503, ready);
      }
      case '/metrics':
        return { status: 200, type: registry.contentType, body: await registry.metrics() };
      default:
        return json(404, { error: 'not found', paths: ['/healthz', '/readyz', '/metrics'] });
    }
  } catch (err) {
    return json(500, { error: (err as Error).message });
  }
}
