/** Files the tests share with handlers in worker threads and child processes (test/fixtures/tasks.js). */
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Run {
  jobId: string;
  threadId: number;
  pid: number;
  attempt: number;
}

/** Every file made here is removed when the test file's process exits. */
const made = new Set<string>();
process.on('exit', () => {
  for (const file of made) rmSync(file, { force: true });
});

function tempPath(kind: string): string {
  const file = join(tmpdir(), `pg-supervisor-${kind}-${randomBytes(4).toString('hex')}`);
  made.add(file);
  return file;
}

/** A fresh, empty record file; handlers append to the file named by TEST_OUT. */
export function recordFile(): string {
  const file = tempPath('runs');
  writeFileSync(file, '');
  return file;
}

export function readRuns(file: string): Run[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [jobId, threadId, pid, attempt] = line.split(' ');
      return { jobId: jobId!, threadId: Number(threadId), pid: Number(pid), attempt: Number(attempt) };
    });
}

/**
 * A gate that jobs of the `waitUntil` and `spinUntil` tasks wait at (pass
 * `{ gate: gate.path }` as the payload) until the test opens it: a job that
 * runs exactly as long as the test needs, however slow the machine.
 */
export interface Gate {
  path: string;
  open(): void;
}

export function gate(): Gate {
  const path = tempPath('gate');
  return { path, open: () => writeFileSync(path, '') };
}
