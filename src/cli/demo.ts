/**
 * `terrarium demo`, a CLI command (not part of the library): loads the plugins of a
 * directory (scripts-examples/ by default) and exercises them the way an application would:
 * the revert demo, htmlize-style hook dispatch across plugins, an async capability, and the
 * request workload of the benchmark.
 */
import type { Capabilities, Logger } from '../types.js';
import { createHost } from '../host/host.js';
import { TerrariumError } from '../errors.js';
import { PLUGIN_NAME, type PluginProxy } from '../binding/proxy.js';
import { createKvStore } from '../gateway/kv-memory.js';

/**
 * The gateway's in-memory key-value store, granted to plugins as `host.kv`, with `get` made async
 * (as a networked store's would be) so that the examples show an async capability. The store is
 * the CLI's for the process: `dispose` is left to process exit.
 */
export function memoryKv(seed: Record<string, unknown> = {}): Capabilities {
  const store = createKvStore({ maxKeys: 10_000 });
  for (const [k, v] of Object.entries(seed)) store.set(k, v);
  const { kv } = store.capability;
  return { kv: { ...kv, get: async (key: string) => store.get(key) } };
}

interface HookPlugin {
  hooks(): string[];
  run(hook: string, text: string, post?: Record<string, unknown>): string;
}

/**
 * The htmlize host of eliben's go-plugin example, in-process: ask every plugin that implements
 * hooks()/run() which hooks it declares, then apply `contents` hooks to the whole post and
 * `role:NAME` hooks to each :NAME:`text` role. The first plugin (in load order) that declares a
 * role renders it; `dispatch` says which plugin got which hook.
 */
export function htmlize(
  plugins: PluginProxy<HookPlugin>[],
  post: { title: string; contents: string },
): { html: string; dispatch: string[] } {
  const contents: PluginProxy<HookPlugin>[] = [];
  const roles = new Map<string, PluginProxy<HookPlugin>>();
  const dispatch: string[] = [];
  for (const p of plugins) {
    for (const hook of p.hooks()) {
      if (hook === 'contents') contents.push(p);
      else if (hook.startsWith('role:') && !roles.has(hook.slice(5))) roles.set(hook.slice(5), p);
      else {
        dispatch.push(`${hook} -> ${p[PLUGIN_NAME]} (shadowed by ${roles.get(hook.slice(5))?.[PLUGIN_NAME] ?? 'nobody'})`);
        continue;
      }
      dispatch.push(`${hook} -> ${p[PLUGIN_NAME]}`);
    }
  }
  let html = post.contents;
  for (const p of contents) html = p.run('contents', html, post);
  html = html.replace(/:(\w+):`([^`]*)`/g, (whole, role: string, val: string) => roles.get(role)?.run(`role:${role}`, val, post) ?? whole);
  return { html, dispatch };
}

export async function runDemo(dir: string, logger: Logger, out: (line: string) => void): Promise<number> {
  await using host = await createHost({
    dir,
    logger,
    capabilities: memoryKv({ 'user:1': { name: 'Ada' }, 'user:2': { name: 'Grace' } }),
    config: { greeter: { greeting: 'Welcome' } },
  });
  out(`Loaded ${host.plugins.length} plugins from ${dir}:`);
  for (const p of host.plugins) {
    const exports = p.exports.map((e) => `${e.name}/${e.arity}${e.async ? ' async' : ''}`).join(', ');
    out(`  ${p.name.padEnd(14)} ${p.engine.padEnd(8)} ${p.status.padEnd(8)} ${exports}${p.error ? `  ${p.error.code} ${p.error.location ?? ''}` : ''}`);
  }
  const call = async (label: string, fn: () => unknown) => {
    try {
      out(`${label} -> ${JSON.stringify(await fn())}`);
    } catch (e) {
      out(`${label} -> ${e instanceof TerrariumError ? e.message : String(e)}`);
    }
  };
  out('');
  for (const p of host.implementing<{ revert(s: string): string }>('revert')) {
    await call(`revert (${p[PLUGIN_NAME]})`, () => p.revert('Live on time, emit no evil'));
  }
  const post = { title: 'htmlize', contents: 'I wrote :tt:`createHost()` and I called :tt:`host.get()`.' };
  // Lua plugins first, so that this run shows one host dispatching hooks across both languages.
  const hookPlugins = host.implementing<HookPlugin>('hooks', 'run');
  const engineOf = (p: PluginProxy<HookPlugin>) => host.plugins.find((x) => x.name === p[PLUGIN_NAME])?.engine ?? '';
  hookPlugins.sort((a, b) => (engineOf(a) === engineOf(b) ? 0 : engineOf(a) === 'lua' ? -1 : 1));
  await call('htmlize', () => {
    const { html, dispatch } = htmlize(hookPlugins, post);
    for (const d of dispatch) out(`  hook ${d}`);
    return html;
  });
  for (const p of host.implementing<{ greet(id: number): Promise<string> }>('greet')) {
    await call('greet(1)', () => p.greet(1));
    await call('greet(3)', () => p.greet(3));
  }
  const req: { method: string; path: string; headers: Record<string, string> } = {
    method: 'GET',
    path: '/api/users/42',
    headers: { host: 'example.com', 'x-block': '1' },
  };
  for (const p of host.implementing<{ onRequest(r: typeof req): unknown }>('onRequest')) {
    const name = p[PLUGIN_NAME];
    await call(`${name}.onRequest(x-block)`, () => p.onRequest(req));
    await call(`${name}.onRequest()`, () => p.onRequest({ ...req, headers: { host: 'example.com' } }));
  }
  return host.plugins.some((p) => p.status === 'failed') ? 1 : 0;
}
