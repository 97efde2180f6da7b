/**
 * The shipped author types in an editor: Monaco (the editor of VS Code, with its TypeScript
 * service) in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) loads
 * types/plugin.d.ts, and the declarations it imports from dist/, as extra libs, opens a TypeScript
 * middleware, and must offer the `host` API on completion and flag a contract break with
 * TypeScript's own message. Needs `npm run build` (the types import dist/*.d.ts), as the CLI tests do.
 *
 * TERRARIUM_EDITOR_SCREENSHOT=1 writes docs/editor-ts.png (completion) and docs/editor-ts-error.png
 * (the marker's hover), so that ordinary runs never rewrite them.
 */
import { before, after, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

const root = fileURLToPath(new URL('..', import.meta.url));
const monacoDir = path.join(root, 'node_modules', 'monaco-editor', 'min');
/** Where the package's files sit in the editor's virtual file system (an installed terrarium-plugins). */
const PKG = 'file:///node_modules/terrarium-plugins/';

/** types/plugin.d.ts and every declaration file it reaches through relative imports, by package path. */
function authorTypes(): Record<string, string> {
  const libs: Record<string, string> = {};
  const todo = ['types/plugin.d.ts'];
  while (todo.length) {
    const rel = todo.pop()!;
    if (rel in libs) continue;
    const text = readFileSync(path.join(root, rel), 'utf8');
    libs[rel] = text;
    for (const m of text.matchAll(/(?:from\s+|import\()\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const next = path.posix.normalize(path.posix.join(path.posix.dirname(rel), m[1]!.replace(/\.js$/, '.d.ts')));
      if (existsSync(path.join(root, next))) todo.push(next);
    }
  }
  return libs;
}

/** A middleware an author would write: it reads `host`, and breaks the contract (setHeader for setHeaders). */
const SAMPLE = `import type { MiddlewareContext, MiddlewareRequest, RequestDecision } from 'terrarium-plugins/plugin';

export function onRequest(req: MiddlewareRequest, ctx: MiddlewareContext): RequestDecision | undefined {
  const seen = host.kv?.incr('seen:' + req.path) ?? 0;
  host.log.info(\`\${req.path} seen \${seen} times\`);
  return { setHeader: { 'x-seen': String(seen) } };
}
`;

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>terrarium types in Monaco</title>
<style>html, body, #editor { margin: 0; width: 100%; height: 100%; }</style></head>
<body><div id="editor"></div>
<script src="/monaco/vs/loader.js"></script>
<script>
  require.config({ paths: { vs: '/monaco/vs' } });
  window.editorReady = new Promise((resolve, reject) => {
    require(['vs/editor/editor.main'], async () => {
      try {
        // 0.57 moved the TypeScript service to the top-level namespace; older ones keep it under languages.
        const ts = monaco.typescript ?? monaco.languages.typescript;
        const libs = await (await fetch('/libs.json')).json();
        const defaults = ts.typescriptDefaults;
        defaults.setCompilerOptions({
          target: ts.ScriptTarget.ES2022,
          module: ts.ModuleKind.ESNext,
          moduleResolution: ts.ModuleResolutionKind.NodeJs,
          strict: true,
          noEmit: true,
          // The package's exports map sends terrarium-plugins/plugin to types/plugin.d.ts; this
          // resolution mode reads no exports map, so name the file as a tsconfig's paths would.
          baseUrl: 'file:///',
          paths: { 'terrarium-plugins/plugin': ['node_modules/terrarium-plugins/types/plugin.d.ts'] },
        });
        for (const [rel, text] of Object.entries(libs.files)) defaults.addExtraLib(text, '${PKG}' + rel);
        const uri = monaco.Uri.parse('file:///plugins/seen.ts');
        const model = monaco.editor.createModel(libs.sample, 'typescript', uri);
        window.editor = monaco.editor.create(document.getElementById('editor'), { model, minimap: { enabled: false }, fontSize: 14, automaticLayout: true });
        window.markers = () => monaco.editor.getModelMarkers({ resource: uri })
          .filter((m) => m.severity === monaco.MarkerSeverity.Error)
          .map((m) => ({ message: m.message, line: m.startLineNumber, column: m.startColumn }));
        resolve(true);
      } catch (e) {
        reject(e);
      }
    }, reject);
  });
</script></body></html>`;

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.ttf': 'font/ttf', '.json': 'application/json' };

let server: Server;
let base: string;
let browser: Browser;

before(async () => {
  const libs = JSON.stringify({ files: authorTypes(), sample: SAMPLE });
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/') return void res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    if (url.pathname === '/libs.json') return void res.writeHead(200, { 'content-type': 'application/json' }).end(libs);
    if (url.pathname.startsWith('/monaco/')) {
      const file = path.join(monacoDir, path.normalize(decodeURIComponent(url.pathname.slice('/monaco/'.length))));
      if (file.startsWith(monacoDir + path.sep) && existsSync(file)) {
        return void res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
      }
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
});

async function openEditor(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1000, height: 330 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(base);
  await page.evaluate(() => (window as unknown as { editorReady: Promise<boolean> }).editorReady);
  assert.deepEqual(errors, []);
  return page;
}

type Marker = { message: string; line: number; column: number };
const markersOf = (page: Page) => page.evaluate(() => (window as unknown as { markers(): Marker[] }).markers());

it('a contract break (setHeader for setHeaders) gets an error marker with TypeScript\'s message, and no other error (host and the imports resolve)', async () => {
  const page = await openEditor();
  // The TypeScript worker reports asynchronously: wait for its first markers (a generous safety net).
  await page.waitForFunction(() => (window as unknown as { markers(): Marker[] }).markers().length > 0, undefined, { timeout: 60_000 });
  const markers = await markersOf(page);
  assert.equal(markers.length, 1, JSON.stringify(markers));
  assert.equal(markers[0]!.line, 6);
  assert.match(markers[0]!.message, /'setHeader' does not exist in type 'RequestDecision'/);
  assert.match(markers[0]!.message, /Did you mean to write 'setHeaders'\?/);
  if (process.env.TERRARIUM_EDITOR_SCREENSHOT) {
    // The marker's hover, as an author sees it when pointing at the squiggle.
    await page.evaluate((m) => {
      const ed = (window as unknown as { editor: { setPosition(p: object): void; focus(): void; trigger(s: string, id: string, a: object): void } }).editor;
      ed.focus();
      ed.setPosition({ lineNumber: m.line, column: m.column + 2 });
      ed.trigger('test', 'editor.action.showHover', {});
    }, markers[0]!);
    await page.locator('.monaco-hover').filter({ hasText: 'setHeaders' }).first().waitFor({ timeout: 60_000 });
    await page.screenshot({ path: path.join(root, 'docs', 'editor-ts-error.png') });
  }
  await page.close();
});

it('completion after `host.` offers the host API (kv, log, config) from the shipped types', async () => {
  const page = await openEditor();
  await page.waitForFunction(() => (window as unknown as { markers(): Marker[] }).markers().length > 0, undefined, { timeout: 60_000 });
  // Line 4 is `  const seen = host.kv?...`: put the cursor right after `host.` and ask for suggestions.
  const column = SAMPLE.split('\n')[3]!.indexOf('host.') + 'host.'.length + 1;
  await page.evaluate((col) => {
    const ed = (window as unknown as { editor: { setPosition(p: object): void; focus(): void; trigger(s: string, id: string, a: object): void } }).editor;
    ed.focus();
    ed.setPosition({ lineNumber: 4, column: col });
    ed.trigger('test', 'editor.action.triggerSuggest', {});
  }, column);
  const rows = page.locator('.suggest-widget .monaco-list-row');
  await rows.first().waitFor({ timeout: 60_000 });
  await page.waitForFunction(() => document.querySelectorAll('.suggest-widget .monaco-list-row').length >= 3, undefined, { timeout: 60_000 });
  const labels = (await rows.allTextContents()).map((t) => t.trim());
  for (const name of ['config', 'kv', 'log']) assert.ok(labels.some((l) => l.startsWith(name)), `${name} in ${JSON.stringify(labels)}`);
  if (process.env.TERRARIUM_EDITOR_SCREENSHOT) await page.screenshot({ path: path.join(root, 'docs', 'editor-ts.png') });
  await page.close();
});
