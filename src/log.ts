/**
 * Structured logging: one JSON object per line on stdout (pino), or coloured
 * lines for a terminal with `--log-format pretty`. Worker threads build their
 * own logger with the same settings; pino writes each line with one
 * synchronous write, so lines from threads never interleave.
 */
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogFormat, LogLevel } from './config.js';

export type { Logger } from 'pino';

export interface LogSettings {
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** File descriptor written to: 1 (stdout, the default) or 2 (stderr, for commands whose stdout is their output). */
  fd?: 1 | 2;
}

/** Creates the logger for the main thread or a worker thread. */
export function createLogger(settings: LogSettings, bindings: Record<string, unknown> = {}): Logger {
  const options = { level: settings.logLevel, base: { pid: process.pid, ...bindings } };
  const fd = settings.fd ?? 1;
  if (settings.logFormat === 'pretty') {
    return pino(options, pretty({ sync: true, destination: fd, ignore: 'pid,hostname' }));
  }
  return pino(options, pino.destination({ dest: fd, sync: true }));
}

/** A logger that writes nothing, for library use without logging. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
