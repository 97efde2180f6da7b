/**
 * The README's quick tour is a program, not prose: this test extracts it, writes it with the plugin
 * files it shows into a fresh directory laid out like an application that installed the package,
 * type-checks it under `strict` with tsc, runs it with tsx, and compares what it prints with the
 * output the README states. Needs dist/ (npm test builds it first).
 *
 * What the README must keep, inside its "## Quick tour" section:
 * - plugin files as fenced blocks whose first line names them: `// plugins/revert.js`, `-- plugins/greet.lua`;
 * - the program as a ```ts block whose first line is `// tour.ts`;
 * - the output as the ```text block that follows the line "It prints:".
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');

interface Block { lang: string; body: string; before: string }

/** The fenced blocks of one `## ` section, each with the text between it and the previous block. */
export function sectionBlocks(markdown: string, heading: string): Block[] {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start < 0) return [];
  const rest = markdown.slice(start + heading.length + 5);
  const end = rest.search(/^## /m);
  const section = end < 0 ? rest : rest.slice(0, end);
  const blocks: Block[] = [];
  const fence = /^```(\w*)\n([\s\S]*?)^```$/gm;
  let last = 0;
  for (let m = fence.exec(section); m; m = fence.exec(section)) {
    blocks.push({ lang: m[1]!, body: m[2]!, before: section.slice(last, m.index) });
    last = m.index + m[0].length;
  }
  return blocks;
}

/** What the tour consists of: the program, the plugin files by path, and the stated output. */
export function extractTour(markdown: string): { program?: string; plugins: Map<string, string>; expected?: string } {
  const blocks = sectionBlocks(markdown, 'Quick tour');
  const plugins = new Map<string, string>();
  let program: string | undefined;
  let expected: string | undefined;
  for (const b of blocks) {
    const first = b.body.split('\n', 1)[0]!.trim();
    const named = /^(?:\/\/|--)\s*(plugins\/[\w.-]+)$/.exec(first);
    if (b.lang === 'ts' && first === '// tour.ts') program = b.body;
    else if (named) plugins.set(named[1]!, b.body);
    else if (b.lang === 'text' && /It prints:\s*$/.test(b.before)) expected = b.body;
  }
  return { program, plugins, expected };
}

function run(cmd: string, args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('README quick tour', () => {
  const tour = extractTour(readme);
  let dir: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'terrarium-tour-'));
    // An application that installed the package: node_modules/terrarium-plugins resolves through the
    // package's own `exports` (dist/), exactly as for a user.
    await mkdir(path.join(dir, 'node_modules'), { recursive: true });
    await symlink(root, path.join(dir, 'node_modules', 'terrarium-plugins'), 'dir');
    await writeFile(path.join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
    await writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2023'],
        strict: true, noUncheckedIndexedAccess: true, noEmit: true, skipLibCheck: true,
        types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')],
      },
      files: ['tour.ts'],
    }));
    if (tour.program !== undefined) await writeFile(path.join(dir, 'tour.ts'), tour.program);
    for (const [file, body] of tour.plugins) {
      await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
      await writeFile(path.join(dir, file), body);
    }
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('has a program, at least one plugin file and the output it prints', () => {
    assert.ok(tour.program, 'no ```ts block starting with "// tour.ts" in the Quick tour');
    assert.ok(tour.plugins.size > 0, 'no plugin file block ("// plugins/x.js" or "-- plugins/x.lua") in the Quick tour');
    assert.ok(tour.expected, 'no ```text block after "It prints:" in the Quick tour');
  });

  it('type-checks under strict with the published types (dist/*.d.ts)', async () => {
    assert.ok(existsSync(path.join(root, 'dist', 'index.d.ts')), 'dist/ is missing: run `npm run build` first (npm test does)');
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = await run(process.execPath, [tsc, '-p', '.'], dir);
    assert.equal(r.code, 0, `tsc failed on the README's tour:\n${r.stdout}${r.stderr}`);
  });

  it('runs and prints what the README says it prints', async () => {
    assert.ok(existsSync(path.join(root, 'dist', 'index.js')), 'dist/ is missing: run `npm run build` first (npm test does)');
    const tsx = import.meta.resolve('tsx');
    const r = await run(process.execPath, ['--import', tsx, 'tour.ts'], dir);
    assert.equal(r.code, 0, `the tour exited with ${r.code}:\n${r.stderr}`);
    assert.equal(r.stdout, tour.expected);
  });
});

describe('tour extraction', () => {
  it('finds the program, named plugin files and the output, and nothing outside the section', () => {
    const md = [
      '# T', '', '## Quick tour', '', '```js', '// plugins/a.js', 'export function f() {}', '```', '',
      '```lua', '-- plugins/b.lua', 'return {}', '```', '', '```ts', '// tour.ts', 'console.log(1);', '```', '',
      'It prints:', '', '```text', '1', '```', '', '## Next', '', '```js', '// plugins/c.js', '```', '',
    ].join('\n');
    const t = extractTour(md);
    assert.equal(t.program, '// tour.ts\nconsole.log(1);\n');
    assert.deepEqual([...t.plugins.keys()], ['plugins/a.js', 'plugins/b.lua']);
    assert.equal(t.expected, '1\n');
  });
});
