/** Where the package's own files are, whether running from dist/ or a test build. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
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

/** The web console's built pages (built into dist/ by `npm run build`). */
export const consoleAssetsDir = join(packageRoot, 'dist', 'console', 'pages');

/** The numbered SQL migrations. */
export const migrationsDir = join(packageRoot, 'migrations');

/** This package's version, from its package.json. */
export const packageVersion: string = (
  JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }
).version;

/**
 * The root of the user's project: the nearest folder at or above `from`
 * holding a package.json, or `from` itself when there is none. Commands run
 * in any subfolder of a project share its embedded database this way.
 */
export function projectRoot(from: string = process.cwd()): string {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return resolve(from);
    dir = parent;
  }
}

/** Where the embedded PostgreSQL keeps its data unless told otherwise: `.supervisor/` in the project root. */
export function defaultDataDir(from: string = process.cwd()): string {
  return join(projectRoot(from), '.supervisor');
}
