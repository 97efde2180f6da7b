/**
 * The dashboard's files, served from the package: the page (admin/dashboard/, copied next to the
 * compiled code by `npm run build`) and uPlot's built assets, resolved from the installed `uplot`
 * dependency (no CDN, no runtime build). Read once, on the first request for each.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const uplotDist = () => path.dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** URL path under /dashboard/ -> file on disk. Only these are served (no path from the request reaches the disk). */
const FILES: Record<string, () => string> = {
  '/dashboard/': () => path.join(here, 'dashboard', 'index.html'),
  '/dashboard/app.js': () => path.join(here, 'dashboard', 'app.js'),
  '/dashboard/style.css': () => path.join(here, 'dashboard', 'style.css'),
  '/dashboard/vendor/uPlot.iife.min.js': () => path.join(uplotDist(), 'uPlot.iife.min.js'),
  '/dashboard/vendor/uPlot.min.css': () => path.join(uplotDist(), 'uPlot.min.css'),
};

const cache = new Map<string, { type: string; body: Buffer }>();

/** The file for a dashboard URL path, or undefined. */
export function dashboardFile(urlPath: string): { type: string; body: Buffer } | undefined {
  const at = FILES[urlPath];
  if (!at) return undefined;
  let hit = cache.get(urlPath);
  if (!hit) {
    const file = at();
    hit = { type: TYPES[path.extname(file)] ?? 'application/octet-stream', body: readFileSync(file) };
    cache.set(urlPath, hit);
  }
  return hit;
}
