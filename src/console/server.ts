/**
 * The web console's HTTP server: the pages (built into the package, served
 * as files), the login form when a token is set, and the JSON API. A
 * service with the same start/stop contract as the metrics endpoint; the
 * `supervisor console` command and `supervisor run --console-port` start it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { closeServer } from '../http.js';
import type { Logger } from '../log.js';
import { consoleAssetsDir } from '../paths.js';
import type { Service } from '../supervisor/service.js';
import { authenticated, checkBind, loginCookie, refusedChange, tokenMatches, type AccessOptions } from './access.js';
import { ConsoleApi } from './api.js';
import { loginPage } from './login-page.js';

export interface ConsoleServerOptions extends AccessOptions {
  port: number;
  api: ConsoleApi;
  log: Logger;
}

/** The console cannot listen (a port in use): exit code 1, as for the metrics port. */
export class ConsolePortError extends Error {
  override name = 'ConsolePortError';
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Every answer: no framing, no sniffing, no referrer to other sites, and only this origin's scripts and styles. */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // same-origin, not no-referrer: with no-referrer, Chromium sends `Origin: null` on the login form's POST.
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

/** Largest request body read (a filter or a login): anything bigger is refused. */
const MAX_BODY_BYTES = 64 * 1024;

export class ConsoleServer implements Service {
  readonly name = 'web console';
  private server: Server | undefined;
  /** The port it listens on (the one given, or the one chosen for port 0). */
  port = 0;

  constructor(private readonly options: ConsoleServerOptions) {}

  async start(): Promise<void> {
    const { host, port, log } = this.options;
    checkBind(this.options);
    const server = createServer((req, res) => void this.serve(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(new ConsolePortError(`cannot serve the console on ${host}:${port}: ${error.code === 'EADDRINUSE' ? 'the port is in use' : error.message}; choose another port`)),
      );
      server.listen(port, host, resolve);
    });
    this.server = server;
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : port;
    log.info({ host, port: this.port, allowActions: this.options.allowActions }, `console on http://${host.includes(':') ? `[${host}]` : host}:${this.port}/${this.options.allowActions ? '' : ' (read-only)'}`);
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await closeServer(server);
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://console');
    try {
      if (url.pathname === '/login') return await this.login(req, res);
      if (url.pathname === '/console.css') return await this.file(req, res, url.pathname); // the login page's style
      if (!authenticated(req, this.options.token)) {
        if (url.pathname.startsWith('/api/')) return send(res, 401, { error: 'this console needs its token: send Authorization: Bearer <token>, or log in at /login' });
        return redirect(res, '/login');
      }
      if (url.pathname.startsWith('/api/')) return await this.api(req, res, url);
      return await this.file(req, res, url.pathname);
    } catch (error) {
      this.options.log.warn({ err: error, path: url.pathname }, 'console request failed');
      send(res, 500, { error: (error as Error).message });
    }
  }

  private async api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET';
    let body: Record<string, unknown> = {};
    if (ConsoleApi.changes(method)) {
      const refused = refusedChange(req, { json: true });
      if (refused) return send(res, 403, { error: refused });
      const text = await readBody(req);
      try {
        body = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
      } catch {
        return send(res, 400, { error: 'the request body is not JSON' });
      }
    }
    const parts = url.pathname.slice('/api/'.length).split('/').filter(Boolean).map(decodeURIComponent);
    const reply = await this.options.api.handle({ method, parts, query: url.searchParams, body });
    send(res, reply.status, reply.body);
  }

  /** The login form, and its POST: the right token sets the cookie. */
  private async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { token } = this.options;
    if (!token) return redirect(res, '/');
    if (req.method !== 'POST') return html(res, 200, loginPage());
    const refused = refusedChange(req, { json: false });
    if (refused) return html(res, 403, loginPage(refused));
    const given = new URLSearchParams(await readBody(req)).get('token') ?? '';
    if (!tokenMatches(given, token)) return html(res, 401, loginPage('wrong token'));
    res.writeHead(303, { ...SECURITY_HEADERS, location: '/', 'set-cookie': loginCookie(token) }).end();
  }

  /** A file of the built pages; any other path is the app's own route, so it gets index.html. */
  private async file(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'pages are read with GET' });
    const relative = normalize(path).replace(/^(\.\.[/\\])+/, '').replace(/^[/\\]+/, '');
    const known = extname(relative) in TYPES;
    const file = join(consoleAssetsDir, known ? relative : 'index.html');
    if (!file.startsWith(consoleAssetsDir)) return send(res, 404, { error: 'not found' });
    try {
      const content = await readFile(file);
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(content);
    } catch {
      send(res, 404, { error: `not found: ${path}` });
    }
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

function html(res: ServerResponse, status: number, page: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8' }).end(page);
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(303, { ...SECURITY_HEADERS, location }).end();
}

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Error(`request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
