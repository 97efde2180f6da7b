/**
 * The documentation's links resolve, and stay in the repository.
 *
 * For README.md, LICENSE's neighbours and every docs/*.md: each Markdown link or image outside code
 * (fenced blocks and inline code spans are examples, not links) must be
 * - relative, pointing at a file or directory that exists inside the repository, and when it has a
 *   `#fragment` into a Markdown file, at a heading of that file (GitHub's anchor rules); or
 * - an http(s) URL on the allowlist below.
 * Bare URLs in prose count as links too (GitHub renders them as links).
 *
 * Allowlist, and why: only the loopback addresses the quick start prints (`http://127.0.0.1:...`,
 * `http://localhost:...`): they point at the gateway `npm start` runs on the reader's machine, not
 * at a page anyone maintains. Nothing else: a page outside the repository can move or change under
 * the docs, so the text says what it needs instead of linking to it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const ALLOWED_URL = /^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?(\/|$)/;

/** Markdown with fenced code blocks and inline code spans blanked out (line count kept). */
export function prose(markdown: string): string {
  return markdown
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[ \t]*$/gm, (block) => block.replace(/[^\n]/g, ' '))
    .replace(/(`+)[^`\n][\s\S]*?\1/g, (span) => span.replace(/[^\n]/g, ' '));
}

/** The link targets of a Markdown text: inline links, images and bare URLs, outside code. */
export function linkTargets(markdown: string): string[] {
  const text = prose(markdown);
  const out: string[] = [];
  for (const m of text.matchAll(/!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push(m[1]!);
  const withoutInline = text.replace(/!?\[[^\]\n]*\]\([^)\n]*\)/g, ' ');
  for (const m of withoutInline.matchAll(/\bhttps?:\/\/[^\s)>\]"']+/g)) out.push(m[0].replace(/[.,;:]+$/, ''));
  return out;
}

/** GitHub's anchors for the headings of a Markdown text (duplicates get -1, -2, ...). */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const original = markdown.split('\n');
  prose(markdown).split('\n').forEach((blanked, i) => {
    if (!/^#{1,6}[ \t]+\S/.test(blanked)) return; // a heading outside code blocks
    // The heading as GitHub renders it: code spans keep their text, links their label.
    const text = original[i]!.replace(/^#{1,6}[ \t]+/, '').replace(/[ \t#]*$/, '')
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/[`*]/g, '');
    const base = text.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  });
  return out;
}

function docFiles(): string[] {
  const docs = path.join(root, 'docs');
  const inDocs = existsSync(docs) ? readdirSync(docs).filter((f) => f.endsWith('.md')).map((f) => path.join(docs, f)) : [];
  return [path.join(root, 'README.md'), ...inDocs];
}

/** Every problem with one file's links, as readable strings. */
export function linkProblems(file: string, markdown: string): string[] {
  const problems: string[] = [];
  const rel = path.relative(root, file);
  for (const target of linkTargets(markdown)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
      if (!ALLOWED_URL.test(target)) problems.push(`${rel}: ${target} leaves the repository (allowed: loopback URLs only)`);
      continue;
    }
    const [p, fragment] = target.split('#', 2) as [string, string | undefined];
    const resolved = p === '' ? file : path.resolve(path.dirname(file), decodeURIComponent(p));
    if (path.relative(root, resolved).startsWith('..')) {
      problems.push(`${rel}: ${target} points outside the repository`);
      continue;
    }
    if (p !== '' && !existsSync(resolved)) {
      problems.push(`${rel}: ${target}: no such file ${path.relative(root, resolved)}`);
      continue;
    }
    if (fragment !== undefined && resolved.endsWith('.md') && (resolved === file || statSync(resolved).isFile())) {
      const own = resolved === file ? markdown : readFileSync(resolved, 'utf8');
      if (!anchors(own).has(fragment)) problems.push(`${rel}: ${target}: no heading #${fragment} in ${path.relative(root, resolved)}`);
    }
  }
  return problems;
}

describe('documentation links', () => {
  it('covers the README and at least one page of docs/', () => {
    const files = docFiles();
    assert.ok(files.length > 1, 'no docs/*.md');
    assert.ok(existsSync(path.join(root, 'LICENSE')), 'LICENSE is missing (package.json says MIT)');
  });

  it('every link of README.md and docs/*.md resolves inside the repository', () => {
    const texts = docFiles().map((f) => [f, readFileSync(f, 'utf8')] as const);
    assert.ok(linkTargets(texts[0]![1]).length >= 10, 'the README links to fewer than 10 places: is the extraction broken?');
    const problems = texts.flatMap(([f, md]) => linkProblems(f, md));
    assert.deepEqual(problems, []);
  });
});

describe('link checking itself', () => {
  const file = path.join(root, 'docs', 'x.md');

  it('accepts existing files, their headings, and loopback URLs', () => {
    const md = '# Title\n\n## Known limitations (`JS`)\n\nSee [r](../README.md#quick-tour), [here](#known-limitations-js), [l](../LICENSE), http://127.0.0.1:8080/api.\n';
    assert.deepEqual(linkProblems(file, md), []);
  });

  it('refuses missing files, missing headings, links out of the repository and outside URLs', () => {
    const md = [
      '# T', '', '[a](nope.md) [b](../README.md#no-such-heading) [c](../../elsewhere.md)',
      '[d](https://example.com/page) and a bare https://example.org/x in prose.', '',
      '```sh', 'curl https://inside.code.block/ok', '```', 'and `https://inside.a.span` too.', '',
    ].join('\n');
    const problems = linkProblems(file, md);
    assert.equal(problems.length, 5, problems.join('\n'));
    assert.match(problems[0]!, /nope\.md: no such file/);
    assert.match(problems[1]!, /no heading #no-such-heading/);
    assert.match(problems[2]!, /outside the repository/);
    assert.match(problems[3]!, /example\.com.*leaves the repository/);
    assert.match(problems[4]!, /example\.org.*leaves the repository/);
  });

  it('makes anchors as GitHub does, duplicates numbered, headings in code ignored', () => {
    const md = '# A (b.ts)\n\n## Hot reload (`watch: true`)\n\n## Dup\n\n## Dup\n\n```yaml\n# not a heading\n```\n';
    assert.deepEqual([...anchors(md)], ['a-bts', 'hot-reload-watch-true', 'dup', 'dup-1']);
  });
});
