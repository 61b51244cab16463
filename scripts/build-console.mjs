#!/usr/bin/env node
// Builds the web console's pages into dist/console/pages/: console/app.js and what it
// imports (Preact, htm) bundled into one minified module, beside the page
// and its stylesheet. Part of `npm run build`, so the package ships the
// built pages and its users never build anything.
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'console', 'pages');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(root, 'console', 'app.js')],
  outfile: join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  minify: true,
  target: 'es2020',
  legalComments: 'none',
  logLevel: 'warning',
});
for (const file of ['index.html', 'console.css']) copyFileSync(join(root, 'console', file), join(out, file));
