/**
 * One ACME certificate resolver (`certificatesResolvers.<name>.acme`), with acme-client: the
 * certificates of its routers' domains are read from the storage at start (served at once),
 * obtained when missing or due for renewal, written back to the storage, and handed to the
 * certificate store, which serves them to new connections without a restart. A failure (no ACME
 * server, a refused challenge) is logged with its reason and retried with exponential backoff;
 * meanwhile the default certificate is served, as Traefik does.
 */
import https from 'node:https';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type http from 'node:http';
import type { Logger } from '../../types.js';
import type { ResolvedAcme } from '../config/model.js';
import { readResolver, writeResolver, type StoredAccount, type StoredCertificate } from './storage.js';

/** Where obtained certificates and tls-alpn-01 answers go (serve/certs.ts). */
export interface CertSink {
  put(id: string, pem: { cert: string; key: string }): void;
  challenge(domain: string, pem: { cert: string; key: string } | undefined): void;
}

/** Timing knobs (tests shorten them; the defaults are Traefik's). */
export interface AcmeTiming {
  /** First retry after a failure (default 60 s), doubled each time up to `retryMaxMs` (default 1 h). */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** How often certificates are checked for renewal (default: Traefik's renew interval for the resolver's certificatesDuration). */
  checkIntervalMs?: number;
}

/**
 * Traefik v3's getCertificateRenewDurations (pkg/provider/acme): from the certificates' duration in
 * hours, how long before expiry a certificate is renewed (`beforeMs`, Traefik's renew period) and
 * how often certificates are checked (`intervalMs`, its renew interval).
 */
export function renewDurations(durationHours: number): { beforeMs: number; intervalMs: number } {
  const h = 3600_000;
  const day = 24 * h;
  if (durationHours >= 365 * 24) return { beforeMs: 4 * 30 * day, intervalMs: 7 * day };
  if (durationHours >= 90 * 24) return { beforeMs: 30 * day, intervalMs: day };
  if (durationHours >= 30 * 24) return { beforeMs: 10 * day, intervalMs: 12 * h };
  if (durationHours >= 7 * 24) return { beforeMs: day, intervalMs: h };
  if (durationHours >= 24) return { beforeMs: 6 * h, intervalMs: 10 * 60_000 };
  return { beforeMs: 20 * 60_000, intervalMs: 60_000 };
}

type Acme = typeof import('acme-client');

const extraCas = new Set<string>();

export class AcmeResolver {
  private account: StoredAccount | undefined;
  private certificates: StoredCertificate[] = [];
  /** http-01 answers: token -> key authorization. */
  private readonly tokens = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private running: Promise<void> | undefined;
  private failures = 0;

  constructor(
    readonly config: ResolvedAcme,
    /** The domain sets its routers need (each: main, then sans). */
    private readonly wanted: string[][],
    private readonly sink: CertSink,
    private readonly logger: Logger,
    private readonly timing: AcmeTiming = {},
  ) {}

  /** Read the storage and serve what it holds; then obtain what is missing (in the background). */
  start(): void {
    try {
      const stored = readResolver(this.config.storage, this.config.name);
      this.account = stored.account;
      this.certificates = stored.certificates;
    } catch (e) {
      this.logger.error({ resolver: this.config.name, storage: this.config.storage, err: (e as Error).message }, `certificate resolver ${this.config.name}: cannot read ${this.config.storage}, starting without stored certificates: ${(e as Error).message}`);
    }
    for (const c of this.certificates) this.serve(c);
    this.schedule(0);
  }

  /** Answer an http-01 challenge request (true when it was one). */
  answerHttp(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const url = req.url ?? '';
    if (!url.startsWith('/.well-known/acme-challenge/')) return false;
    const token = url.slice('/.well-known/acme-challenge/'.length).split('?')[0]!;
    const answer = this.tokens.get(token);
    if (answer === undefined) return false;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(answer) });
    res.end(answer);
    return true;
  }

  /** Whether a certificate for this domain set is stored and not due for renewal. */
  private fresh(domains: string[]): boolean {
    const c = this.certificates.find((s) => sameDomains(s, domains));
    if (!c) return false;
    const notAfter = Date.parse(new X509Certificate(c.certificate).validTo);
    return notAfter - Date.now() > renewDurations(this.config.certificatesDurationHours).beforeMs;
  }

  private serve(c: StoredCertificate): void {
    try {
      this.sink.put(`${this.config.name}:${c.domain.main}`, { cert: c.certificate, key: c.key });
    } catch (e) {
      this.logger.error({ resolver: this.config.name, domain: c.domain.main, err: (e as Error).message }, `certificate resolver ${this.config.name}: the stored certificate for ${c.domain.main} does not load: ${(e as Error).message}`);
    }
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.check().finally(() => (this.running = undefined));
    }, ms);
    this.timer.unref();
  }

  /** Obtain every missing or due certificate; then wait for the next check, or retry with backoff. */
  private async check(): Promise<void> {
    const due = this.wanted.filter((d) => !this.fresh(d));
    // Logged at debug: the event a renewal test waits on when nothing is due.
    this.logger.debug({ resolver: this.config.name, checked: this.wanted.length, due: due.length }, `certificate resolver ${this.config.name}: ${this.wanted.length} certificate(s) checked, ${due.length} due`);
    let failed = false;
    for (const domains of due) {
      if (this.closed) return;
      try {
        await this.obtain(domains);
      } catch (e) {
        failed = true;
        const min = this.timing.retryMinMs ?? 60_000;
        const wait = Math.min(this.timing.retryMaxMs ?? 3600_000, min * 2 ** this.failures);
        this.logger.error(
          { resolver: this.config.name, domains, caServer: this.config.caServer, err: (e as Error).message, retryInMs: wait },
          `certificate resolver ${this.config.name}: cannot obtain a certificate for ${domains.join(', ')} from ${this.config.caServer}: ${(e as Error).message}; serving the default certificate, retrying in ${Math.round(wait / 1000)}s`,
        );
      }
    }
    if (failed) {
      const min = this.timing.retryMinMs ?? 60_000;
      this.schedule(Math.min(this.timing.retryMaxMs ?? 3600_000, min * 2 ** this.failures++));
    } else {
      this.failures = 0;
      this.schedule(this.timing.checkIntervalMs ?? renewDurations(this.config.certificatesDurationHours).intervalMs);
    }
  }

  private async obtain(domains: string[]): Promise<void> {
    const acme: Acme = await import('acme-client');
    trust(acme, this.config.ca);
    if (!this.account) {
      this.account = { email: this.config.email, privateKey: (await acme.crypto.createPrivateEcdsaKey('P-256')).toString(), uri: undefined, body: undefined };
    }
    const client = new acme.Client({ directoryUrl: this.config.caServer, accountKey: this.account.privateKey, ...(this.account.uri ? { accountUrl: this.account.uri } : {}) });
    const key = this.config.keyType.startsWith('RSA')
      ? await acme.crypto.createPrivateRsaKey(Number(this.config.keyType.slice(3)))
      : await acme.crypto.createPrivateEcdsaKey(this.config.keyType === 'EC384' ? 'P-384' : 'P-256');
    const [, csr] = await acme.crypto.createCsr({ commonName: domains[0]!, altNames: domains }, key);
    const http01 = this.config.challenge.kind === 'http-01';
    const cert = await client.auto({
      csr,
      ...(this.config.email ? { email: this.config.email } : {}),
      termsOfServiceAgreed: true,
      // lego (Traefik) does not check its own challenge first; the ACME server's check is the one that counts.
      skipChallengeVerification: true,
      challengePriority: [http01 ? 'http-01' : 'tls-alpn-01'],
      challengeCreateFn: async (authz, challenge, keyAuthorization) => {
        if (challenge.type === 'http-01') this.tokens.set(challenge.token, keyAuthorization);
        else if ((challenge.type as string) === 'tls-alpn-01') {
          // An EC key, as the default certificate's: OpenSSL keeps one certificate per key type on a
          // connection, and an RSA answer next to an EC default would lose to it.
          const [k, c] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization, await acme.crypto.createPrivateEcdsaKey('P-256'));
          this.sink.challenge(authz.identifier.value, { key: k.toString(), cert: c.toString() });
        }
      },
      challengeRemoveFn: async (authz, challenge) => {
        if (challenge.type === 'http-01') this.tokens.delete(challenge.token);
        else this.sink.challenge(authz.identifier.value, undefined);
      },
    });
    this.account.uri = client.getAccountUrl();
    const stored: StoredCertificate = { domain: { main: domains[0]!, sans: domains.slice(1) }, certificate: cert, key: key.toString() };
    this.certificates = [...this.certificates.filter((c) => !sameDomains(c, domains)), stored];
    writeResolver(this.config.storage, this.config.name, this.account, this.certificates);
    this.serve(stored);
    this.logger.info({ resolver: this.config.name, domains, notAfter: new X509Certificate(cert).validTo }, `certificate resolver ${this.config.name}: obtained a certificate for ${domains.join(', ')}`);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    // An order in flight finishes (its storage write included) or fails on its own; it is not awaited forever.
    await Promise.race([this.running, new Promise((r) => setTimeout(r, 2000).unref())]);
  }
}

function sameDomains(c: StoredCertificate, domains: string[]): boolean {
  const have = [c.domain.main, ...(c.domain.sans ?? [])].map((d) => d.toLowerCase()).sort();
  const want = [...domains].sort();
  return have.length === want.length && have.every((d, i) => d === want[i]);
}

/** acme-client talks through one axios instance: the CAs a resolver trusts are added to its HTTPS agent. */
function trust(acme: Acme, ca: string[] | undefined): void {
  // acme-client retries a failed request up to 5 times, 5 s more each time (75 s): the resolver's
  // own backoff retries instead, so a down ACME server is reported at once.
  const settings = (acme.axios.defaults as { acmeSettings?: { retryMaxAttempts: number } }).acmeSettings;
  if (settings) settings.retryMaxAttempts = 0;
  if (!ca?.length) return;
  const before = extraCas.size;
  for (const c of ca) extraCas.add(c);
  if (extraCas.size === before && acme.axios.defaults.httpsAgent) return;
  acme.axios.defaults.httpsAgent = new https.Agent({ ca: [...tls.rootCertificates, ...extraCas], keepAlive: false });
}
