import { z } from "zod";

/**
 * What the local cluster's per-host supervisor runs: a host plan's services
 * with paths and programs already mapped (layout.ts). The supervisor is
 * the local stand-in for systemd; this file is its unit list.
 */

export const readinessSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("https"), url: z.string(), caFile: z.string().optional(), insecure: z.boolean().optional(), certFile: z.string().optional(), keyFile: z.string().optional() }),
  z.object({ kind: z.literal("http"), url: z.string() }),
  z.object({ kind: z.literal("tcp"), host: z.string(), port: z.number() }),
  z.object({ kind: z.literal("unix"), path: z.string() }),
  /** Every file exists (the agent has written the host's certificates and kubeconfigs). */
  z.object({ kind: z.literal("files"), paths: z.array(z.string()) }),
]);
export type Readiness = z.infer<typeof readinessSchema>;

export const unitSchema = z.object({
  name: z.string().min(1),
  argv: z.array(z.string()).min(1),
  env: z.record(z.string()),
  cwd: z.string(),
  log: z.string(),
  after: z.array(z.string()),
  readiness: readinessSchema.optional(),
  /** How `systemctl reload <unit>` is done: a signal, or a restart. */
  reload: z.union([z.object({ kind: z.literal("signal"), signal: z.string() }), z.object({ kind: z.literal("restart") }), z.object({ kind: z.literal("none") })]),
});
export type Unit = z.infer<typeof unitSchema>;

export const unitFileSchema = z.object({
  host: z.string(),
  socket: z.string(),
  statusFile: z.string(),
  units: z.array(unitSchema),
});
export type UnitFile = z.infer<typeof unitFileSchema>;

export interface UnitStatus {
  name: string;
  pid?: number;
  state: "waiting" | "starting" | "running" | "ready" | "backoff" | "stopped";
  /** Every start after the first, by cause. */
  restarts: { requested: number; crashed: number; changed: number };
  signals: number;
  lastExit?: { code: number | null; signal: string | null; at: string };
  startedAt?: string;
}

export interface HostStatus {
  host: string;
  pid: number;
  at: string;
  units: UnitStatus[];
}

/** One request on the control socket, one JSON line; the answer is one JSON line too. */
export type ControlRequest =
  | { op: "status" }
  | { op: "restart"; unit: string }
  | { op: "reload-or-restart"; unit: string }
  | { op: "signal"; unit: string; signal: string }
  | { op: "reload-units" }
  | { op: "shutdown" };

export type ControlAnswer = { ok: true; status?: HostStatus } | { ok: false; error: string };
