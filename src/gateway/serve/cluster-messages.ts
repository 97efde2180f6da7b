/** The messages between the cluster primary (cluster.ts) and its workers (cluster-worker.ts), over node:cluster IPC. */
import type { ConfigIssue } from '../../errors.js';

/** Primary → worker. */
export type ToWorker =
  | { type: 'stop' }
  | { type: 'reload' }
  /** Ask for one of: `metrics` (prom-client JSON), `status`, `dashboard` (the dashboard's data and the status), an admin view such as `/api/plugins`, or `act:` and an action's POST path (its status and body). */
  | { type: 'query'; id: number; what: string };

/** What a worker says about itself (`/api/workers`). */
export interface WorkerStatus {
  pid: number;
  startedAt: string;
  inFlight: number;
  /** Requests this worker answered (all routers). */
  requests: number;
  reloads: { success: number; failure: number };
  routers: string[];
}

/** Worker → primary. */
export type FromWorker =
  | { type: 'ready'; entryPoints: Record<string, string> }
  | { type: 'failed'; message: string; issues?: ConfigIssue[]; exitCode: number }
  | { type: 'reloaded'; ok: boolean; source: string; error?: string }
  | { type: 'answer'; id: number; ok: boolean; data?: unknown; error?: string };

export function isFromWorker(m: unknown): m is FromWorker {
  return m !== null && typeof m === 'object' && typeof (m as { type?: unknown }).type === 'string';
}
