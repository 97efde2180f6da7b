/** Releasing what a replaced routing table holds: built-in middlewares' and services' timers (health checks). */

interface Disposable {
  dispose?: (() => void) | undefined;
}

/** Dispose every middleware and service of a routing table that no longer serves (new requests). */
export function disposeRuntime(rt: { middlewares: ReadonlyMap<string, Disposable>; services: ReadonlyMap<string, unknown> } | undefined): void {
  if (!rt) return;
  for (const m of rt.middlewares.values()) m.dispose?.();
  for (const s of rt.services.values()) (s as { lb?: Disposable }).lb?.dispose?.();
}
