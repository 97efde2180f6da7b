/**
 * The second pass over a configuration whose shape is valid: entry points and addresses, TLS,
 * servers transports, services (load balancer URLs and timeouts, references between composite
 * services), middlewares, router rules and their references, plugins. Every problem is collected
 * (with its path and line), so one run reports everything; the result is the resolved config.
 */
import { statSync } from 'node:fs';
import { REPLAY_DEFAULTS } from '../stats/recorder.js';
import path from 'node:path';
import { ConfigError } from '../../errors.js';
import { compileRule, RuleSyntaxError, type RuleMatcher } from '../routing/rules.js';
import { resolveEntryPointOptions, type EntryPointOptions } from './entrypoint.js';
import { resolveTransports, type ResolvedTransport } from './transport.js';
import { resolveCertificates, resolveDefaultCertificate, resolveRouterTls, resolveTlsOptions } from './tls.js';
import { resolveResolvers } from './acme.js';
import { parseGoDuration } from './duration.js';
import { checkServiceRefs, SERVICE_KINDS } from './refs.js';
import { resolveComposite, resolveLoadBalancerExtras } from './services.js';
import { expandMiddlewares, localName, resolveMiddleware } from '../middleware/builtin/resolve.js';
import { resolveKv, resolveRedisProvider } from './redis.js';
import type { AdminAddress, Duration, GatewayConfig, Issue, ListenAddress, ResolvedConfig, ResolvedMiddleware, ResolvedRouter, ResolvedService } from './model.js';
import { dotted, sortIssues } from './issues.js';
import type { Parsed } from './yaml.js';
import { pruneInvalid } from './schema.js';
import { resolveStatic, TRAEFIK_ENTRY_POINT } from './static.js';
import { addRedirections, withEntryPointMiddlewares } from './entrypoint-http.js';
import { resolveAccessLog } from './access-log.js';

/** A duration in milliseconds (`30s` -> 30000, `1m30s` -> 90000; a number is already milliseconds here, unlike Traefik's seconds: see duration.ts). */
export function parseDuration(d: Duration): number {
  if (typeof d === 'number') return d;
  const n = parseGoDuration(d);
  return typeof n === 'number' ? n : NaN;
}

/** `127.0.0.1:8080`, `:8080` (every interface), `[::1]:8080`, `localhost:0`. */
export function parseAddress(text: string): ListenAddress | string {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s/]*)):([0-9]{1,5})$/.exec(text.trim());
  if (!m) return 'must be host:port, e.g. 127.0.0.1:8080 or :8080';
  const port = Number(m[3]);
  if (port > 65535) return `port ${port} is out of range (0-65535)`;
  const host = m[1] ?? (m[2] || undefined);
  return { host, port, text };
}

/** A configuration whose shape is valid, with the problems its references, rules and addresses have. */
export interface CheckedConfig {
  /** Usable for further checks (e.g. middleware configs against plugins); routers whose rule failed are left out. */
  config: ResolvedConfig;
  issues: Issue[];
}

/**
 * Check and resolve a configuration. Throws ConfigError at once for YAML and schema problems (the
 * rest cannot be read); returns the problems of references, rules, addresses and URLs with a
 * config that can still be checked against the plugins, so one run reports everything.
 * `baseDir` resolves `plugins.dir` and trust key files.
 */
export function checkConfig(parsed: Parsed, baseDir: string): CheckedConfig {
  const { value: raw, file, where } = parsed;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(file, [{ path: '(root)', message: 'the configuration must be a mapping with at least entryPoints' }]);
  }
  // Schema problems do not hide the others: the parts that are wrong are set aside and the rest
  // is checked as well, so one run reports everything (problems inside a part set aside excepted).
  const { value, issues: shapeIssues, removed } = pruneInvalid(raw, where);
  if (value === undefined) throw new ConfigError(file, sortIssues(shapeIssues));
  const names = (o: unknown): Set<string> => new Set(o && typeof o === 'object' && !Array.isArray(o) ? Object.keys(o) : []);
  const rawHttp = (raw as { http?: Record<string, unknown> }).http;
  const known = {
    services: names(rawHttp?.services),
    middlewares: names(rawHttp?.middlewares),
    transports: names(rawHttp?.serversTransports),
    entryPoints: names((raw as { entryPoints?: unknown }).entryPoints),
  };

  const cfg = value as GatewayConfig;
  const issues: Issue[] = [...shapeIssues];
  const issue = (segs: (string | number)[], message: string) => {
    const p = dotted(segs);
    if (removed.some((r) => p === r || p.startsWith(`${r}.`) || p.startsWith(`${r}[`))) return;
    issues.push({ ...where(segs), path: p, message });
  };

  const entryPoints = new Map<string, ListenAddress & EntryPointOptions>();
  for (const [name, ep] of Object.entries(cfg.entryPoints)) {
    const segs = typeof ep === 'string' ? ['entryPoints', name] : ['entryPoints', name, 'address'];
    const a = parseAddress(typeof ep === 'string' ? ep : ep.address);
    const options = resolveEntryPointOptions(ep, ['entryPoints', name], parseDuration, issue);
    if (typeof a === 'string') issue(segs, a);
    else entryPoints.set(name, { ...a, ...options });
  }
  // Without any certificate a TLS entry point serves a generated default one, as Traefik does.
  const certificates = resolveCertificates(cfg.tls, baseDir, issue);
  const defaultCertificate = resolveDefaultCertificate(cfg.tls, baseDir, issue);
  const tlsOptions = resolveTlsOptions(cfg.tls?.options, baseDir, issue);
  const resolvers = resolveResolvers(cfg.certificatesResolvers, baseDir, known.entryPoints, issue);
  const knownTls = { options: new Set([...tlsOptions.keys(), ...Object.keys(cfg.tls?.options ?? {})]), resolvers: new Set(Object.keys(cfg.certificatesResolvers ?? {})) };
  for (const [name, ep] of entryPoints) {
    if (ep.tlsDefaults) resolveRouterTls(ep.tlsDefaults, '', ['entryPoints', name, 'http', 'tls'], knownTls, issue);
  }
  // A TLS router naming a plain entry point makes it a TLS one (Traefik tells TLS from plain per
  // connection; here an entry point is one or the other).
  for (const r of Object.values(cfg.http?.routers ?? {})) {
    if (!r.tls) continue;
    for (const name of r.entryPoints ?? []) {
      const ep = entryPoints.get(name);
      if (ep && !ep.tls) entryPoints.set(name, { ...ep, tls: true, signature: `${ep.signature}+tls` });
    }
  }
  const transports = resolveTransports(cfg.http?.serversTransports, baseDir, issue);
  // Traefik's static serversTransport is the default of every load balancer that names none.
  const defaultTransport = cfg.serversTransport
    ? resolveTransports({ default: cfg.serversTransport }, baseDir, (segs, message) => issue(['serversTransport', ...segs.slice(3)], message)).get('default')
    : undefined;
  const traefik = resolveStatic(cfg, entryPoints, () => resolveEntryPointOptions({ address: ':8080' }, ['entryPoints', TRAEFIK_ENTRY_POINT], parseDuration, issue), issue);
  let admin: AdminAddress | undefined;
  if (cfg.admin !== undefined) {
    const a = parseAddress(typeof cfg.admin === 'string' ? cfg.admin : cfg.admin.address);
    if (typeof a === 'string') issue(typeof cfg.admin === 'string' ? ['admin'] : ['admin', 'address'], a);
    else {
      const o: Exclude<GatewayConfig['admin'], string | undefined> = typeof cfg.admin === 'string' ? { address: cfg.admin } : cfg.admin;
      const at = (f: string | undefined) => (f === undefined ? undefined : path.resolve(baseDir, f));
      const auth = o.auth && { ...o.auth, tokenFile: at(o.auth.tokenFile), usersFile: at(o.auth.usersFile) };
      admin = { ...a, auth, insecure: o.insecure === true };
    }
  }

  const services = new Map<string, ResolvedService>();
  for (const [name, s] of Object.entries(cfg.http?.services ?? {})) {
    const segs = ['http', 'services', name];
    const raw = s as Record<string, unknown>;
    const kinds = SERVICE_KINDS.filter((k) => raw[k] !== undefined && raw[k] !== false);
    if (kinds.length !== 1) {
      issue(segs, kinds.length === 0 ? `must define one of: ${SERVICE_KINDS.join(', ')}` : `must define only one of: ${SERVICE_KINDS.join(', ')}`);
      continue;
    }
    const kind = kinds[0]!;
    if (kind === 'weighted' || kind === 'mirroring' || kind === 'failover') {
      services.set(name, resolveComposite(name, kind, raw[kind] as Record<string, unknown>, segs, issue));
      continue;
    }
    if (kind === 'echo') {
      services.set(name, { name, kind: 'echo' });
      continue;
    }
    const lb = s.loadBalancer!;
    const servers: URL[] = [];
    lb.servers.forEach((srv, i) => {
      let u: URL | undefined;
      try {
        u = new URL(srv.url);
      } catch {
        /* reported below */
      }
      if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
        issue([...segs, 'loadBalancer', 'servers', i, 'url'], `must be an http:// or https:// URL, e.g. http://127.0.0.1:3000 (got "${srv.url}")`);
      } else servers.push(u);
    });
    let transport: ResolvedTransport | undefined = defaultTransport;
    if (lb.serversTransport !== undefined) {
      transport = transports.get(lb.serversTransport);
      if (!transport && !known.transports.has(lb.serversTransport)) {
        const defined = [...known.transports];
        issue([...segs, 'loadBalancer', 'serversTransport'], `unknown servers transport "${lb.serversTransport}"; ${defined.length ? `defined: ${defined.join(', ')}` : 'none is defined under http.serversTransports'}`);
      }
    }
    // The service's own forwardingTimeouts win over its transport's.
    const own = lb.forwardingTimeouts ?? {};
    const shared = transport?.forwardingTimeouts ?? {};
    const dur = (key: 'dialTimeout' | 'responseHeaderTimeout' | 'idleConnTimeout', dflt: number): number => {
      const v = own[key] ?? shared[key];
      if (v === undefined) return dflt;
      const n = parseDuration(v);
      // responseHeaderTimeout 0 means none, as in Traefik.
      const min = key === 'responseHeaderTimeout' ? 0 : 1;
      if (!Number.isFinite(n) || n < min) {
        const where = own[key] !== undefined ? [...segs, 'loadBalancer', 'forwardingTimeouts', key] : ['http', 'serversTransports', transport!.name, 'forwardingTimeouts', key];
        issue(where, min === 0 ? 'must be a duration, e.g. 500ms or 30s (0 = none)' : 'must be a positive duration, e.g. 500ms or 30s');
      }
      return n;
    };
    services.set(name, {
      name,
      kind: 'loadBalancer',
      servers,
      passHostHeader: lb.passHostHeader ?? true,
      dialTimeoutMs: dur('dialTimeout', 5000),
      responseHeaderTimeoutMs: dur('responseHeaderTimeout', 30_000),
      idleConnTimeoutMs: dur('idleConnTimeout', 4000),
      tls: transport?.tls,
      ...resolveLoadBalancerExtras(lb as unknown as Record<string, unknown>, [...segs, 'loadBalancer'], name, issue),
    });
  }
  checkServiceRefs(services, issue);

  const middlewares = new Map<string, ResolvedMiddleware>();
  for (const [name, m] of Object.entries(cfg.http?.middlewares ?? {})) {
    const r = resolveMiddleware(name, m as Record<string, unknown>);
    if ('message' in r) issue(['http', 'middlewares', name, ...r.path], r.message);
    else middlewares.set(name, r);
  }

  const routers: ResolvedRouter[] = [];
  /** Routers with a tls of their own (the others on a TLS entry point inherit its defaults). */
  const ownTls = new Set<string>();
  const epNames = [...Object.keys(cfg.entryPoints)];
  for (const [name, r] of Object.entries(cfg.http?.routers ?? {})) {
    const segs = ['http', 'routers', name];
    let match: RuleMatcher | undefined;
    try {
      match = compileRule(r.rule);
    } catch (e) {
      if (!(e instanceof RuleSyntaxError)) throw e;
      issue([...segs, 'rule'], e.detail);
    }
    (r.entryPoints ?? []).forEach((ep, i) => {
      if (!known.entryPoints.has(ep)) issue([...segs, 'entryPoints', i], `unknown entry point "${ep}"; defined: ${epNames.join(', ')}`);
    });
    const chain = expandMiddlewares(r.middlewares ?? [], [...segs, 'middlewares'], middlewares, issue);
    r.service = localName(r.service);
    if (!known.services.has(r.service)) {
      const known = Object.keys(cfg.http?.services ?? {});
      issue([...segs, 'service'], `unknown service "${r.service}"; ${known.length ? `defined: ${known.join(', ')}` : 'none is defined under http.services'}`);
    }
    if (r.tls) ownTls.add(name);
    const tls = r.tls ? resolveRouterTls(r.tls, r.rule, [...segs, 'tls'], knownTls, issue) : undefined;
    // A router with tls is served on TLS connections only; one without, on every entry point
    // (on a TLS entry point it takes that entry point's http.tls defaults).
    const on = r.entryPoints ?? (tls ? epNames.filter((n) => entryPoints.get(n)?.tls) : epNames);
    const epTls = on.map((n) => entryPoints.get(n)).find((ep) => ep?.tls);
    const effective = tls ?? (epTls ? resolveRouterTls(epTls.tlsDefaults ?? {}, r.rule, [...segs, 'tls'], knownTls, () => undefined) : undefined);
    if (match) {
      routers.push({
        name,
        rule: r.rule,
        match,
        entryPoints: on,
        ...(effective ? { tls: effective } : {}),
        middlewares: chain,
        service: r.service,
        // Traefik: 0 (or unset) means the length of the rule.
        priority: r.priority || r.rule.length,
      });
    }
  }

  // node:tls fixes versions and ciphers per listening socket, before SNI is known: one entry point,
  // one set of TLS options (Traefik picks them by the SNI host; a difference, documented).
  for (const ep of entryPoints.keys()) {
    const named = new Map<string, string>();
    for (const r of routers) if (r.tls && ownTls.has(r.name) && r.entryPoints.includes(ep) && !named.has(r.tls.options)) named.set(r.tls.options, r.name);
    if (named.size > 1) {
      const [, second] = [...named.entries()];
      issue(['http', 'routers', second![1], 'tls', 'options'], `routers on entry point "${ep}" name different TLS options (${[...named.keys()].join(', ')}); here TLS options apply per entry point: give each set of options its own entry point`);
    }
  }

  const p = cfg.plugins ?? {};
  const kv = p.capabilities?.kv;
  const trust = p.trust && {
    ...p.trust,
    publicKeys: p.trust.publicKeys.map((k) => (k.includes('-----BEGIN') ? k : path.resolve(baseDir, k))),
  };
  // Highest priority first; equal priorities by name, so the order never depends on the file's order.
  addRedirections(cfg.entryPoints, entryPoints, routers, middlewares, services, issue);
  const routed = withEntryPointMiddlewares(routers, cfg.entryPoints, (refs, segs) => expandMiddlewares(refs, segs, middlewares, issue));
  // At equal priority a router with a tls of its own comes before one that inherits it.
  routed.sort((a, b) => b.priority - a.priority || Number(ownTls.has(b.name)) - Number(ownTls.has(a.name)) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const r of routed) if (ownTls.has(r.name) && r.tls) (r.tls as { own?: boolean }).own = true;
  // No silent default: a gateway without plugins.dir would load every script next to its file
  // (the user's own upstream included) as a plugin. The default is a plugins/ folder next to the
  // file, and it must exist.
  const defaultDir = path.resolve(baseDir, 'plugins');
  const usesPlugins = [...middlewares.values()].some((m) => m.builtin === undefined);
  // A config that names no plugin (Traefik's built-ins only) and has no plugins/ folder loads none.
  const pluginsDir = p.dir !== undefined ? path.resolve(baseDir, p.dir) : isDirectory(defaultDir) || usesPlugins || cfg.plugins !== undefined ? defaultDir : undefined;
  if (p.dir === undefined && pluginsDir !== undefined && !isDirectory(pluginsDir)) {
    issues.push({
      ...where(['plugins', 'dir']),
      path: 'plugins.dir',
      message: `is required: there is no plugins/ folder next to the configuration (${defaultDir})`,
      hint: 'set plugins.dir to the folder of the middleware plugins (relative to this file), or create plugins/',
    });
  }
  const config: ResolvedConfig = {
    file,
    entryPoints,
    certificates,
    ...(defaultCertificate ? { defaultCertificate } : {}),
    tlsOptions,
    resolvers,
    admin,
    // Terrarium's default is on; Traefik's section form (`accessLog: {}`) turns it on too.
    accessLog: cfg.accessLog === undefined ? true : cfg.accessLog !== false,
    replay: cfg.replay && {
      file: path.resolve(baseDir, cfg.replay.file),
      sampleRate: cfg.replay.sampleRate ?? REPLAY_DEFAULTS.sampleRate,
      maxBytes: cfg.replay.maxBytes ?? REPLAY_DEFAULTS.maxBytes,
      redactHeaders: (cfg.replay.redactHeaders ?? REPLAY_DEFAULTS.redactHeaders).map((h) => h.toLowerCase()),
      maxQueue: cfg.replay.maxQueue ?? REPLAY_DEFAULTS.maxQueue,
    },
    routers: routed,
    middlewares,
    services,
    plugins: {
      dir: pluginsDir,
      limits: p.limits as Record<string, number> | undefined,
      pluginLimits: p.pluginLimits as Record<string, Record<string, number>> | undefined,
      grants: p.grants as ResolvedConfig['plugins']['grants'],
      kv: resolveKv(kv, baseDir, issue),
      trust,
      watch: p.watch,
    },
    redisProvider: resolveRedisProvider(cfg.providers, baseDir, issue),
    where,
    traefik,
    errorFormat: cfg.errorFormat ?? 'text',
    accessLogSpec: resolveAccessLog(cfg.accessLog, baseDir, issue),
  };
  return { config, issues };
}

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/**
 * `plugins.pluginLimits` entries that name no loaded plugin (a typo would otherwise leave the
 * plugin on the default limits without a word). Checked once the plugins are loaded.
 */
export function pluginLimitIssues(config: ResolvedConfig, pluginNames: readonly string[]): Issue[] {
  const known = new Set(pluginNames);
  return Object.keys(config.plugins.pluginLimits ?? {})
    .filter((name) => !known.has(name))
    .map((name) => ({
      ...config.where(['plugins', 'pluginLimits', name]),
      path: dotted(['plugins', 'pluginLimits', name]),
      message: config.plugins.dir ? `names no plugin of ${config.plugins.dir}` : 'names a plugin, but no plugins are loaded (no plugins.dir)',
      hint: pluginNames.length ? `the plugins are: ${[...pluginNames].sort().join(', ')}` : 'the folder has no plugins',
    }));
}

/**
 * `experimental.plugins` / `.localPlugins` entries: Terrarium does not fetch Traefik's catalog;
 * each name must be a plugin of the plugin directory (the file's name without extension), which
 * middlewares then use as `plugin: { <name>: {...} }`, as in Traefik.
 */
export function experimentalPluginIssues(config: ResolvedConfig, pluginNames: readonly string[]): Issue[] {
  const known = new Set(pluginNames);
  const dir = config.plugins.dir ?? path.resolve(config.file ? path.dirname(config.file) : process.cwd(), 'plugins');
  return config.traefik.experimentalPlugins
    .filter((p) => !known.has(p.name))
    .map((p) => ({
      ...config.where(['experimental', p.kind, p.name]),
      path: dotted(['experimental', p.kind, p.name]),
      message: `names plugin "${p.name}", which is not in the plugin directory ${dir}`,
      hint: `drop ${p.name}.js, ${p.name}.ts or ${p.name}.lua into ${dir} (Terrarium runs script plugins; it does not download Traefik's Go/Yaegi plugins), or remove experimental.${p.kind}.${p.name}`,
    }));
}
