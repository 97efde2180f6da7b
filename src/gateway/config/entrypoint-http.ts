/**
 * `entryPoints.<name>.http.redirections.entryPoint` and `.http.middlewares`, as Traefik applies
 * them: a redirection is a router of its own on the entry point (rule: every request, priority
 * MaxInt32-1 unless given) whose only middleware is a redirectScheme to the target's scheme and
 * port; the entry point's middlewares go before each router's own, on that entry point only (a
 * router on entry points with different lists is split, one copy per list).
 */
import type { EntryPointConfig, ListenAddress, ResolvedMiddleware, ResolvedRouter, ResolvedService } from './model.js';

/** Traefik's default priority of a redirection router: MaxInt32 - 1, above any rule's length. */
export const REDIRECTION_PRIORITY = 2 ** 31 - 2;

/** The service of a redirection router: never reached, the redirect answers first (Traefik's noop@internal). */
const NOOP = 'noop@internal';

/** Add the redirection routers, their middlewares and the noop service. */
export function addRedirections(
  entryPoints: Record<string, string | EntryPointConfig>,
  addresses: ReadonlyMap<string, ListenAddress>,
  routers: ResolvedRouter[],
  middlewares: Map<string, ResolvedMiddleware>,
  services: Map<string, ResolvedService>,
  issue: (segs: (string | number)[], message: string) => void,
): void {
  for (const [name, ep] of Object.entries(entryPoints)) {
    const r = typeof ep === 'string' ? undefined : ep.http?.redirections?.entryPoint;
    if (!r) continue;
    let port: string;
    if (/^:[0-9]+$/.test(r.to)) port = r.to.slice(1);
    else {
      const target = addresses.get(r.to);
      if (!target) {
        issue(['entryPoints', name, 'http', 'redirections', 'entryPoint', 'to'], `unknown entry point "${r.to}"; give an entry point name (${[...addresses.keys()].join(', ')}) or a port like :443`);
        continue;
      }
      port = String(target.port);
    }
    const mw = `redirect-${name}-to-${r.to.replace(/^:/, '')}@internal`;
    middlewares.set(mw, { name: mw, plugin: 'redirectScheme', builtin: 'redirectScheme', config: { scheme: r.scheme ?? 'https', port, permanent: r.permanent ?? true }, failOpen: false });
    if (!services.has(NOOP)) services.set(NOOP, { name: NOOP, kind: 'echo' });
    routers.push({ name: `${name}-to-${r.to.replace(/^:/, '')}@internal`, rule: 'HostRegexp(`^.+$`)', match: () => true, entryPoints: [name], middlewares: [mw], service: NOOP, priority: r.priority ?? REDIRECTION_PRIORITY });
  }
}

/**
 * Routers with their entry points' `http.middlewares` put first. `expand` resolves a list of
 * references (chains included) against the middlewares, reporting unknown ones at `segs`.
 */
export function withEntryPointMiddlewares(
  routers: ResolvedRouter[],
  entryPoints: Record<string, string | EntryPointConfig>,
  expand: (refs: string[], segs: (string | number)[]) => string[],
): ResolvedRouter[] {
  const lists = new Map<string, string[]>();
  for (const [name, ep] of Object.entries(entryPoints)) {
    const refs = typeof ep === 'string' ? undefined : ep.http?.middlewares;
    if (refs && refs.length > 0) lists.set(name, expand(refs, ['entryPoints', name, 'http', 'middlewares']));
  }
  if (lists.size === 0) return routers;
  const out: ResolvedRouter[] = [];
  for (const r of routers) {
    // Group the router's entry points by the middlewares they add.
    const groups = new Map<string, { eps: string[]; first: string[] }>();
    for (const ep of r.entryPoints) {
      const first = lists.get(ep) ?? [];
      const key = first.join('\0');
      const g = groups.get(key);
      if (g) g.eps.push(ep);
      else groups.set(key, { eps: [ep], first });
    }
    let i = 0;
    for (const g of groups.values()) {
      out.push({ ...r, name: i++ === 0 ? r.name : `${r.name}@${g.eps[0]}`, entryPoints: g.eps, middlewares: [...g.first, ...r.middlewares] });
    }
  }
  return out;
}
