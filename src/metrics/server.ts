/**
 * The supervisor's HTTP endpoint: `/metrics` (Prometheus text format),
 * `/healthz` (the process is alive) and `/readyz` (connected, migrated,
 * claiming; not ready from the moment shutdown starts).
 */
import { createServer, type Server } from 'node:http';
import { closeServer } from '../http.js';
import type { Logger } from '../log.js';
import type { Registry } from 'prom-client';
import type { Service } from '../supervisor/service.js';

export interface Readiness {
  ready: boolean;
  reason: string;
}

export interface MetricsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  readiness: () => Readiness;
  log: Logger;
}

/** The metrics endpoint cannot listen (a port in use): not a usage error, exit code 1. */
export class MetricsPortError extends Error {
  override name = 'MetricsPortError';
}

export class MetricsServer implements Service {
  readonly name = 'metrics endpoint';
  private server: Server | undefined;

  constructor(private readonly options: MetricsServerOptions) {}

  /** Starts listening; fails clearly when the port is taken. */
  async start(): Promise<void> {
    const { host, port, log } = this.options;
    const server = createServer((req, res) => void this.handle(req.url ?? '/', res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(new MetricsPortError(`cannot serve metrics on ${host}:${port}: ${error.code === 'EADDRINUSE' ? 'the port is in use' : error.message}; choose another --metrics-port, or 0 to disable the endpoint`)),
      );
      server.listen(port, host, resolve);
    });
    this.server = server;
    log.info({ host, port }, `metrics on http://${host}:${port}/metrics`);
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await closeServer(server);
  }

  private async handle(url: string, res: import('node:http').ServerResponse): Promise<void> {
    const path = url.split('?')[0];
    try {
      if (path === '/metrics') {
        const body = await this.options.registry.metrics();
        res.writeHead(200, { 'content-type': this.options.registry.contentType }).end(body);
      } else if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (path === '/readyz') {
        const { ready, reason } = this.options.readiness();
        res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(`${reason}\n`);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /readyz\n');
      }
    } catch (error) {
      this.options.log.warn({ err: error, path }, 'metrics request failed');
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(error as Error).message}\n`);
    }
  }
}
