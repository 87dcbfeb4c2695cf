import { createHash } from "node:crypto";
import { z } from "zod";
import { ALERTING_STATES, type CertState, type FleetEntry } from "./fleet.js";

/**
 * The alert state machine: pure. Given what was firing and the fleet now, it
 * says which alerts start and which resolve. An identity entering late,
 * expired or missing fires once for that state; staying there fires nothing
 * more; moving to another alerting state resolves the old alert and fires the
 * new one; leaving them (renewed) resolves it.
 */

export const ALERT_NAMES: Record<"late" | "expired" | "missing" | "anomaly", string> = {
  late: "HakFleetCertificateLate",
  expired: "HakFleetCertificateExpired",
  missing: "HakFleetCertificateMissing",
  anomaly: "HakFleetCertificateAnomaly",
};

type AlertingState = keyof typeof ALERT_NAMES;

function isAlerting(s: CertState): s is AlertingState {
  return ALERTING_STATES.includes(s);
}

/** What is firing now, by fleet entry id. */
export interface ActiveAlert {
  id: string;
  state: AlertingState;
  startsAt: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export type AlertBook = ReadonlyMap<string, ActiveAlert>;

const activeAlertSchema = z.object({
  id: z.string(),
  state: z.enum(["late", "expired", "missing", "anomaly"]),
  startsAt: z.string(),
  labels: z.record(z.string()),
  annotations: z.record(z.string()),
});

/** The book as JSON, so a restarted serve neither fires again nor forgets to resolve. */
export function serializeBook(book: AlertBook): string {
  return `${JSON.stringify([...book.values()], null, 2)}\n`;
}

/** Undefined when the text is not a book this version wrote. */
export function parseBook(text: string): Map<string, ActiveAlert> | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  const res = z.array(activeAlertSchema).safeParse(doc);
  return res.success ? new Map(res.data.map((a) => [a.id, a])) : undefined;
}

export interface AlertEvent {
  status: "firing" | "resolved";
  alert: ActiveAlert;
  /** For resolved alerts: when it stopped. */
  endsAt?: string;
}

function describe(e: FleetEntry): string {
  const who = e.holder.kind === "host" ? `host ${e.holder.host}` : `the ${e.holder.role} hosts (shared, ${e.current ?? 0}/${e.needed ?? 0} current)`;
  switch (e.state) {
    case "missing":
      return `${who} has no ${e.profile} certificate: Vault never signed one (host not enrolled or its agent never ran)`;
    case "expired":
      return `the ${e.profile} certificate of ${who} expired at ${e.expiresAt} (serial ${e.serial})`;
    case "anomaly":
      return `Vault signed a ${e.profile} certificate for ${who} that no hak role should sign: ${(e.anomalies ?? []).join(" | ")}; revoke it and find the hole (role, policy or a token with more rights)`;
    default:
      return `the ${e.profile} certificate of ${who} should have been renewed at ${e.renewAt}; it expires at ${e.expiresAt} (serial ${e.serial})`;
  }
}

function alertFor(e: FleetEntry, state: AlertingState, cluster: string, now: Date): ActiveAlert {
  const labels: Record<string, string> = {
    alertname: ALERT_NAMES[state],
    cluster,
    identity: e.identity,
    profile: e.profile,
    ca: e.ca,
    state,
    severity: state === "late" ? "warning" : "critical",
  };
  if (e.holder.kind === "host") labels.host = e.holder.host;
  return {
    id: e.id,
    state,
    startsAt: now.toISOString(),
    labels,
    annotations: { summary: `${e.identity} ${e.profile}: certificate ${state}`, description: describe(e) },
  };
}

export function stepAlerts(book: AlertBook, fleet: readonly FleetEntry[], cluster: string, now: Date): { book: Map<string, ActiveAlert>; events: AlertEvent[] } {
  const next = new Map<string, ActiveAlert>();
  const events: AlertEvent[] = [];
  const seen = new Set<string>();
  const resolve = (a: ActiveAlert) => events.push({ status: "resolved", alert: a, endsAt: now.toISOString() });
  for (const e of fleet) {
    seen.add(e.id);
    const prev = book.get(e.id);
    if (isAlerting(e.state)) {
      if (prev?.state === e.state) {
        next.set(e.id, prev);
        continue;
      }
      if (prev) resolve(prev);
      const a = alertFor(e, e.state, cluster, now);
      next.set(e.id, a);
      events.push({ status: "firing", alert: a });
    } else if (prev) {
      resolve(prev);
    }
  }
  // Identities no longer in the inventory: their alerts end too.
  for (const [id, a] of book) if (!seen.has(id)) resolve(a);
  return { book: next, events };
}

/** Alertmanager's webhook body (version 4), the format its receivers accept. */
export interface WebhookPayload {
  version: "4";
  groupKey: string;
  truncatedAlerts: number;
  status: "firing" | "resolved";
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: {
    status: "firing" | "resolved";
    labels: Record<string, string>;
    annotations: Record<string, string>;
    startsAt: string;
    endsAt: string;
    generatorURL: string;
    fingerprint: string;
  }[];
}

/** Alertmanager writes the zero time for alerts that have not ended. */
const ZERO_TIME = "0001-01-01T00:00:00Z";

function common(maps: Record<string, string>[]): Record<string, string> {
  if (maps.length === 0) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(maps[0]!)) if (maps.every((m) => m[k] === v)) out[k] = v;
  return out;
}

export function fingerprint(labels: Record<string, string>): string {
  const canon = Object.keys(labels)
    .sort()
    .map((k) => `${k}\u0000${labels[k]}`)
    .join("\u0001");
  return createHash("sha256").update(canon).digest("hex").slice(0, 16);
}

/**
 * One payload per status (firing first), as Alertmanager groups a receiver's
 * notifications; every event appears in exactly one payload.
 */
export function webhookPayloads(events: readonly AlertEvent[], opts: { cluster: string; externalURL: string; receiver?: string }): WebhookPayload[] {
  const out: WebhookPayload[] = [];
  for (const status of ["firing", "resolved"] as const) {
    const group = events.filter((e) => e.status === status);
    if (group.length === 0) continue;
    const groupLabels = { cluster: opts.cluster };
    out.push({
      version: "4",
      groupKey: `{}:{cluster="${opts.cluster}"}`,
      truncatedAlerts: 0,
      status,
      receiver: opts.receiver ?? "hak-pki-serve",
      groupLabels,
      commonLabels: common(group.map((e) => e.alert.labels)),
      commonAnnotations: common(group.map((e) => e.alert.annotations)),
      externalURL: opts.externalURL,
      alerts: group.map((e) => ({
        status,
        labels: e.alert.labels,
        annotations: e.alert.annotations,
        startsAt: e.alert.startsAt,
        endsAt: e.endsAt ?? ZERO_TIME,
        generatorURL: `${opts.externalURL.replace(/\/+$/, "")}/#${encodeURIComponent(e.alert.id)}`,
        fingerprint: fingerprint(e.alert.labels),
      })),
    });
  }
  return out;
}
