/** Reads what the fixture handlers recorded (test/fixtures/tasks.js). */
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface Run {
  jobId: string;
  threadId: number;
  pid: number;
  attempt: number;
}

/** A fresh, empty record file; handlers append to the file named by TEST_OUT. */
export function recordFile(): string {
  const file = join(tmpdir(), `pg-supervisor-runs-${randomBytes(4).toString('hex')}.txt`);
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
