/**
 * Who may use the console, and how: a token (a bearer header, or a cookie
 * set by the login form) when one is configured; same-origin JSON for
 * every request that changes something, so another site cannot make a
 * logged-in browser act (a cross-site form can send neither that content
 * type nor a matching Origin); and actions only when they are allowed.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ConfigError } from '../config.js';

/** The cookie the login form sets. */
export const TOKEN_COOKIE = 'pg_supervisor_console';

/** Hosts that only this machine can reach: the console binds to them without a token. */
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export interface AccessOptions {
  host: string;
  token: string | undefined;
  allowActions: boolean;
}

/** Refuses, before listening, to serve the console beyond this machine without a token. */
export function checkBind({ host, token }: AccessOptions): void {
  if (!LOOPBACK.has(host) && !token) {
    throw new ConfigError(
      `the console would listen on ${host}, reachable from other machines, with no token: set --console-token (or SUPERVISOR_CONSOLE_TOKEN), or listen on 127.0.0.1`,
    );
  }
}

/** Whether the request carries the token (or none is needed). */
export function authenticated(req: IncomingMessage, token: string | undefined): boolean {
  if (!token) return true;
  const header = req.headers.authorization;
  if (header?.startsWith('Bearer ')) return tokenMatches(header.slice(7), token);
  const cookie = cookies(req)[TOKEN_COOKIE];
  return cookie !== undefined && sameSecret(cookie, cookieValue(token));
}

/** What the login cookie holds: derived from the token, so the cookie never carries the token itself. */
function cookieValue(token: string): string {
  return createHmac('sha256', token).update('pg-supervisor console login').digest('hex');
}

/** Why a request that changes something is refused, or undefined when it may go on. */
export function refusedChange(req: IncomingMessage, options: { json: boolean }): string | undefined {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `a ${site} request cannot change anything`;
  const origin = req.headers.origin;
  if (origin !== undefined && originHost(origin) !== req.headers.host) return `a request from ${origin} cannot change anything here`;
  if (options.json && !String(req.headers['content-type'] ?? '').startsWith('application/json')) {
    return 'a request that changes something must send JSON (content-type: application/json)';
  }
  return undefined;
}

function originHost(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

function cookies(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0) out[part.slice(0, at).trim()] = decodeURIComponent(part.slice(at + 1).trim());
  }
  return out;
}

/** Whether `given` is the token (compared in constant time). */
export function tokenMatches(given: string, token: string): boolean {
  return sameSecret(given, token);
}

/** Compares secrets in constant time. */
function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The Set-Cookie value that logs a browser in. */
export function loginCookie(token: string): string {
  return `${TOKEN_COOKIE}=${cookieValue(token)}; HttpOnly; SameSite=Strict; Path=/`;
}
