/** The soak's command line (see bench/soak.ts's header). */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ATTACKS } from './plugins.js';

export interface SoakOptions {
  minutes: number;
  workers: number;
  redis: boolean;
  out: string;
  attacks: string[];
  rate: number;
  connections: number;
  reloadMs: number;
  hostileIntervalMs: number;
  hostileTimeoutMs: number;
  hostileBudgetMs: number;
  hostileMemoryBytes: number;
}

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function positive(name: string, v: string | undefined, dflt: number, integer = false): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new Error(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got "${v}"`);
  return n;
}

export function parseOptions(argv: string[], defaultOut: string): SoakOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      minutes: { type: 'string' },
      workers: { type: 'string' },
      redis: { type: 'boolean' },
      'no-redis': { type: 'boolean' },
      out: { type: 'string' },
      attacks: { type: 'string' },
      rate: { type: 'string' },
      connections: { type: 'string' },
      'reload-ms': { type: 'string' },
      'hostile-interval-ms': { type: 'string' },
      'hostile-timeout-ms': { type: 'string' },
      'hostile-budget-ms': { type: 'string' },
      'hostile-memory-mib': { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(`usage: node --import tsx bench/soak.ts [--minutes 30] [--workers 2] [--redis|--no-redis] [--out DIR]
  [--attacks all|${ATTACKS.map((a) => a.key).join(',')}] [--rate 100] [--connections 16]
  [--reload-ms 2000] [--hostile-interval-ms 3500] [--hostile-timeout-ms 200] [--hostile-budget-ms 3000] [--hostile-memory-mib 32]`);
    process.exit(0);
  }
  const known = ATTACKS.map((a) => a.key);
  const list = values.attacks === undefined || values.attacks === 'all' ? known : values.attacks.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = list.filter((k) => !known.includes(k));
  if (unknown.length) throw new Error(`--attacks: unknown ${unknown.join(', ')} (known: ${known.join(', ')})`);
  const wantRedis = values['no-redis'] ? false : values.redis ?? onPath('redis-server');
  if (wantRedis && !onPath('redis-server')) throw new Error('--redis: redis-server is not on PATH (apt-get install redis-server)');
  return {
    minutes: positive('minutes', values.minutes, 30),
    workers: positive('workers', values.workers, 2, true),
    redis: wantRedis,
    out: path.resolve(values.out ?? defaultOut),
    attacks: list,
    rate: positive('rate', values.rate, 100),
    connections: positive('connections', values.connections, 16, true),
    reloadMs: positive('reload-ms', values['reload-ms'], 2000),
    hostileIntervalMs: positive('hostile-interval-ms', values['hostile-interval-ms'], 3500),
    hostileTimeoutMs: positive('hostile-timeout-ms', values['hostile-timeout-ms'], 200, true),
    hostileBudgetMs: positive('hostile-budget-ms', values['hostile-budget-ms'], 3000, true),
    hostileMemoryBytes: positive('hostile-memory-mib', values['hostile-memory-mib'], 32) * 2 ** 20,
  };
}
