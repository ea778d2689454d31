/**
 * The server's loopback HTTP listener: Prometheus text on GET /metrics, liveness on GET /healthz
 * (503 while shutting down, so a load balancer stops sending before the ports close).
 */
import { createServer, type Server as HttpServer } from 'node:http';
import { ServerError, ServerErrorCode } from './errors.js';

/** What the listener reports, read at each request. */
export interface MetricsSource {
  metrics(): string;
  health(): { healthy: boolean; peersOnline: number; uptimeSeconds: number };
}

/** Binds the metrics listener on host:port. */
export async function listenMetrics(host: string, port: number): Promise<HttpServer> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (cause) =>
      reject(new ServerError(ServerErrorCode.Listen, `cannot bind metrics ${host}: ${cause.message}`, { cause })),
    );
    server.listen(port, host, () => resolve());
  });
  return server;
}

/** Answers /metrics and /healthz on `server` from `source`. */
export function serveMetrics(server: HttpServer, source: MetricsSource): void {
  server.on('request', (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
    } else if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(source.metrics());
    } else if (path === '/healthz') {
      const { healthy, peersOnline, uptimeSeconds } = source.health();
      res
        .writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: healthy ? 'ok' : 'shutting-down', peersOnline, uptimeSeconds }));
    } else {
      res.writeHead(404).end();
    }
  });
}
