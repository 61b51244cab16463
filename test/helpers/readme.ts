/** The README, read by the tests that run its examples as written. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';

export const readme = readFileSync(join(packageRoot, 'README.md'), 'utf8');

/** The fenced blocks of a README section, in order. */
export function section(title: string): { lang: string; body: string }[] {
  const start = readme.indexOf(`### ${title}`);
  assert.ok(start >= 0, `README has a section '${title}'`);
  const end = readme.slice(start + 4).search(/^##+ /m);
  const text = readme.slice(start, end < 0 ? undefined : start + 4 + end);
  return [...text.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, body: m[2]! }));
}
