/** Where the package's own files are, whether running from dist/ or a test build. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('pg-supervisor: cannot find its package.json');
    dir = parent;
  }
  return dir;
}

/** The folder holding pg-supervisor's package.json. */
export const packageRoot = findPackageRoot();

/** The numbered SQL migrations. */
export const migrationsDir = join(packageRoot, 'migrations');

/** This package's version, from its package.json. */
export const packageVersion: string = (
  JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }
).version;
