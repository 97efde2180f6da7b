/**
 * Child-process side of the child-process peers of bench/peers (plain JS, no tsx).
 *   node child-plugin.mjs <plugin module URL> stdio            NDJSON requests on stdin, answers on stdout
 *                                                              (first line 'ready'), protoc/pie style
 *   node child-plugin.mjs <plugin module URL> socket <path>    listens on a Unix socket and prints a
 *                                                              go-plugin style handshake line
 *                                                              '1|1|unix|<path>|ndjson', then NDJSON there
 */
import net from 'node:net';
import { rmSync } from 'node:fs';

const [url, mode, sockPath] = process.argv.slice(2);
const plugin = await import(url);

function run(m) {
  try {
    return JSON.stringify({ id: m.id, r: m.arg === undefined ? plugin[m.name]() : plugin[m.name](m.arg) });
  } catch (e) {
    return JSON.stringify({ id: m.id, e: { name: e?.name, code: e?.code ?? e?.name, message: String(e?.message ?? e).slice(0, 200) } });
  }
}

function serve(input, output) {
  let rest = '';
  input.setEncoding('utf8');
  input.on('data', (chunk) => {
    rest += chunk;
    let i;
    let out = '';
    while ((i = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, i);
      rest = rest.slice(i + 1);
      out += `${run(JSON.parse(line))}\n`;
    }
    if (out) output.write(out);
  });
}

if (mode === 'stdio') {
  process.stdout.write('ready\n');
  serve(process.stdin, process.stdout);
  process.stdin.on('end', () => process.exit(0));
} else {
  rmSync(sockPath, { force: true });
  const server = net.createServer((sock) => {
    serve(sock, sock);
    sock.on('close', () => process.exit(0));
    sock.on('error', () => process.exit(0));
  });
  server.listen(sockPath, () => process.stdout.write(`1|1|unix|${sockPath}|ndjson\n`));
  process.on('exit', () => rmSync(sockPath, { force: true }));
}
