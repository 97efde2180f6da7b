/**
 * Soak: the gateway under steady load for a long time, proving the limits hold over time.
 *   - the real gateway (`node dist/cli/main.js serve`, --workers 2 by default) in front of a node:http
 *     upstream, with a steady-rate open-loop client on /js and /lua (one middleware plugin each,
 *     counting in the kv store);
 *   - both plugins hot-reloaded every 2 s (two alternating versions, each response tagged with
 *     the generation that served it);
 *   - a hostile client breaking each limit class in turn, one route per class (JS: timeout loop,
 *     recursion, memory, [...a] spread loop, BigInt loop; Lua: timeout loop, recursion, memory,
 *     pcall around a spin), each expected to answer 502 with the plugin's code;
 *   - with --workers > 1, one worker SIGKILLed at 40% of the run; with Redis (the kv backend), the
 *     redis-server SIGKILLed at 70% and restarted 2 s later (the plugins serve on without kv);
 *   - RSS of every process sampled each second from /proc.
 * Records requests, failures by cause (hostile route, in flight on the killed worker, other by
 * status and code), p50/p99 latency, RSS start/end/max per process, the reload lag.
 *
 * Run:   npm run bench:soak -- [--minutes 30] [--workers 2] [--redis|--no-redis] [--out bench/results]
 *          [--attacks all|js-timeout,js-recursion,...] [--rate 100] [--connections 16] [--reload-ms 2000]
 *          [--hostile-interval-ms 3500] [--hostile-timeout-ms 200] [--hostile-budget-ms 3000]
 *          [--hostile-memory-mib 32]
 *        (= npm run build && node --import tsx bench/soak.ts ...); a smoke run: --minutes 1.
 *        --redis is on by default when redis-server is on PATH. Ctrl-C stops it cleanly (every
 *        child killed, redis included) and writes what was recorded, marked as partial.
 * Writes <out>/soak.md (summary), <out>/soak-rss.svg (RSS over time), <out>/soak-latency.svg (p50
 * and p99 per window), <out>/soak.json (raw series). The baseline is the run's own start: RSS after
 * warm-up against the end, latency before the incidents against after. See docs/soak.md.
 * Exit code 0 when no request failed unexpectedly, 1 otherwise, 2 on an error of the soak itself,
 * 130 when interrupted.
 */
import http from 'node:http';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BENCH_DIR, REPO_DIR, machine } from './lib.js';
import { Incidents } from './soak/incidents.js';
import { HostileClient, SteadyLoad } from './soak/load.js';
import { parseOptions } from './soak/options.js';
import { writeOutputs } from './soak/outputs.js';
import { ATTACKS, gatewayYaml, taggedSource } from './soak/plugins.js';
import { Recorder } from './soak/recorder.js';
import { Reloader } from './soak/reloader.js';
import { RssSampler, gatewayTargets } from './soak/rss.js';
import { Schedule } from './soak/schedule.js';
import { Supervisor, childPids, freePort, type RedisProcess } from './soak/supervisor.js';

const opts = (() => {
  try {
    return parseOptions(process.argv.slice(2), path.join(BENCH_DIR, 'results'));
  } catch (e) {
    console.error(`soak: ${(e as Error).message} (--help lists the options)`);
    return process.exit(2);
  }
})();
const durationMs = opts.minutes * 60_000;
const attacks = ATTACKS.filter((a) => opts.attacks.includes(a.key));
const schedule = new Schedule();
const log = (msg: string) => console.error(`[soak ${(schedule.now() / 1000).toFixed(1)}s] ${msg}`);

if (!existsSync(path.join(REPO_DIR, 'dist', 'cli', 'main.js'))) {
  console.error('dist/cli/main.js is missing: npm run build first (npm run bench:soak does)');
  process.exit(2);
}

// Ctrl-C once: a clean stop and a partial report; twice: at once (the supervisor's exit hook SIGKILLs every child).
let interrupts = 0;
const onSignal = (sig: NodeJS.Signals) => {
  if (++interrupts > 1) process.exit(130);
  log(`${sig}: stopping (again to quit at once)`);
  schedule.abort(sig);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const supervisor = new Supervisor();
const recorder = new Recorder({ windowMs: Math.max(5_000, Math.round(durationMs / 180 / 1000) * 1000), maxFailuresKept: 2000 });
const tmp = await mkdtemp(path.join(os.tmpdir(), 'terrarium-soak-'));
const upstream = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  req.resume();
  res.end('ok');
});
let exitCode = 2;
let gatewayExit = 'not started';
let logLevels: Record<string, number> = {};
let logTail = () => '';
let pluginCounters: string[] = [];
const loadavgStart = os.loadavg();
const started = new Date().toISOString();
let loadStartedAt: number | undefined;
let loadStoppedAt: number | undefined;

try {
  const upPort = await freePort();
  await new Promise<void>((resolve) => upstream.listen(upPort, '127.0.0.1', resolve));
  const pluginDir = path.join(tmp, 'plugins');
  const staging = path.join(tmp, 'staging');
  await mkdir(pluginDir);
  await mkdir(staging);
  for (const a of attacks) await writeFile(path.join(pluginDir, `${a.key}.${a.engine}`), a.source);
  const reloader = new Reloader({
    pluginDir,
    stagingDir: staging,
    engines: ['js', 'lua'],
    source: taggedSource,
    periodMs: opts.reloadMs,
    clock: schedule,
    onWrite: (engine, gen, t) => recorder.wrote(engine, gen, t),
  });
  await reloader.writeInitial();

  let redis: RedisProcess | undefined;
  if (opts.redis) {
    redis = await schedule.abortable(supervisor.startRedis());
    log(`redis-server ${redis.pid()} on ${redis.url}`);
  }
  const configFile = path.join(tmp, 'gateway.yaml');
  await writeFile(
    configFile,
    gatewayYaml({
      pluginDir,
      upstreamUrl: `http://127.0.0.1:${upPort}`,
      attacks,
      ...(redis ? { redisUrl: redis.url } : {}),
      hostileTimeoutMs: opts.hostileTimeoutMs,
      hostileBudgetMs: opts.hostileBudgetMs,
      hostileMemoryBytes: opts.hostileMemoryBytes,
    }),
  );
  const gw = await schedule.abortable(supervisor.startGateway(configFile, opts.workers));
  logTail = gw.logTail;
  logLevels = gw.levels;
  const web = gw.urls.web!;
  const admin = gw.urls.admin!;
  const clustered = opts.workers > 1;
  log(`gateway ${gw.pid} on ${web} (admin ${admin})${clustered ? `, workers ${childPids(gw.pid).join(' ')}` : ''}`);
  await schedule.until('both plugins to answer', async () => {
    const codes = await Promise.all(['js', 'lua'].map((r) => fetch(`${web}/${r}/ready`).then((res) => res.status)));
    return codes.every((c) => c === 200);
  });

  const onOutcome = recorder.record.bind(recorder);
  const rss = new RssSampler({ periodMs: 1000, clock: schedule, targets: gatewayTargets(gw.pid, clustered, () => redis?.pid()), onSample: recorder.sampleRss.bind(recorder) });
  const load = new SteadyLoad({ baseUrl: web, rate: opts.rate, connections: opts.connections, routes: ['js', 'lua'], timeoutMs: 15_000, clock: schedule, onOutcome });
  const hostile = new HostileClient({ baseUrl: web, attacks: attacks.map((a) => a.key), intervalMs: opts.hostileIntervalMs, timeoutMs: 15_000, clock: schedule, onOutcome });
  const begin = schedule.now();
  const incidents = new Incidents({
    schedule,
    recorder,
    log,
    gatewayPid: gw.pid,
    ...(clustered ? { killWorkerAt: begin + durationMs * 0.4 } : {}),
    ...(redis ? { redis, redisKillAt: begin + durationMs * 0.7 } : {}),
    redisDownMs: 2000,
  });
  loadStartedAt = begin;
  recorder.event(begin, 'load, hot reload and attacks start');
  rss.start();
  load.start();
  hostile.start();
  reloader.start();
  incidents.start();
  const progress = setInterval(() => {
    log(`${recorder.requests} requests, ${recorder.served} served, unexpected failures ${recorder.unexpected}, reload generation ${reloader.generation}`);
  }, 30_000);

  await schedule.at(begin + durationMs);
  clearInterval(progress);
  await incidents.stop();
  await reloader.stop();
  await hostile.stop();
  await load.stop();
  loadStoppedAt = schedule.now();
  rss.sample();
  rss.stop();
  recorder.event(loadStoppedAt, 'load stops');
  try {
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    pluginCounters = metrics.split('\n').filter((l) => /^terrarium_(plugin_(restarts|timeouts|memory_errors|errors)_total|cluster_worker_restarts_total|gateway_reloads_total)/.test(l) && !/ 0$/.test(l));
  } catch (e) {
    log(`could not read /metrics: ${(e as Error).message}`);
  }
  process.kill(gw.pid, 'SIGTERM');
  const ended = await Promise.race([gw.exit, new Promise<undefined>((r) => setTimeout(() => r(undefined), 15_000))]);
  gatewayExit = ended ? `SIGTERM, exited with ${ended.code ?? ended.signal}` : 'SIGTERM, still running after 15 s (killed)';
  exitCode = recorder.unexpected === 0 ? 0 : 1;
} catch (e) {
  if (schedule.aborted) log(`stopped: ${(e as Error).message}`);
  else {
    console.error(`soak failed: ${(e as Error).stack ?? e}`);
    const tail = logTail();
    if (tail) console.error(`gateway log (tail):\n${tail.slice(-4000)}`);
  }
  exitCode = 2;
} finally {
  await supervisor.stopAll();
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
  upstream.closeAllConnections();
  await rm(tmp, { recursive: true, force: true });
}

if (loadStartedAt !== undefined) {
  const m = machine();
  const end = loadStoppedAt ?? schedule.now();
  const report = await writeOutputs({
    out: opts.out,
    command: `node --import tsx bench/soak.ts ${process.argv.slice(2).join(' ')}`.trim(),
    started,
    loadStartedAt,
    loadStoppedAt: end,
    interrupted: schedule.aborted || exitCode === 2,
    machine: `${m.cpu}, ${m.cores} cores, ${m.memory}, Node ${m.node}, ${m.platform}`,
    loadavg: { start: loadavgStart, end: os.loadavg() },
    options: { ...opts, out: path.relative(REPO_DIR, opts.out) || '.', hostileMemoryBytes: `${opts.hostileMemoryBytes / 2 ** 20} MiB` },
    title: `Gateway RSS under the soak (${((end - loadStartedAt) / 60_000).toFixed(1)} min, --workers ${opts.workers}${opts.redis ? ', redis kv' : ''})`,
    attacks,
    recorder,
    gatewayExit,
    logLevels,
    pluginCounters,
  });
  console.log(report);
  log(`wrote soak.md, soak-rss.svg, soak-latency.svg and soak.json in ${opts.out}`);
}
process.exit(schedule.aborted ? 130 : exitCode);
