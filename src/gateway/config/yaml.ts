/**
 * Reading the gateway file as YAML: syntax errors become issues with their line and column, and
 * every later check can say where a path is in the file (`where(path)`: its line, a field).
 */
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import { ConfigError } from '../../errors.js';
import type { Where } from './model.js';

/**
 * Where each path of a YAML document is: its line. A path points at its key
 * (`rule:`), and a missing key at the key of the deepest mapping that exists.
 */
function locator(doc: Document, lines: LineCounter): Where {
  return (segs) => {
    for (let n = segs.length; n >= 1; n--) {
      const parent = n === 1 ? doc.contents : doc.getIn(segs.slice(0, n - 1), true);
      const seg = segs[n - 1];
      let start: number | undefined;
      if (isMap(parent)) {
        const pair = parent.items.find((it) => isPair(it) && isScalar(it.key) && it.key.value === seg);
        if (pair && isScalar(pair.key)) start = pair.key.range?.[0];
      } else if (isSeq(parent) && typeof seg === 'number') {
        start = (parent.items[seg] as { range?: readonly number[] } | undefined)?.range?.[0];
      }
      if (start !== undefined) return { line: lines.linePos(start).line };
    }
    return {};
  };
}

export interface Parsed {
  value: unknown;
  file: string | undefined;
  where: Where;
}


/** Parse YAML text (`file` is only used in messages and to resolve relative paths). */
export function parseConfigText(text: string, file: string | undefined): Parsed {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, merge: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        return { path: '(yaml)', message: e.message.split('\n')[0]!, line: pos.line, column: pos.col };
      }),
    );
  }
  const value: unknown = doc.toJS({ maxAliasCount: 100 });
  return { value, file, where: locator(doc, lines) };
}
