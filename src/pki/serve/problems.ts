import { ALERTING_STATES, severity, type CertState, type FleetEntry } from "./fleet.js";

/**
 * The fleet's problems, one per identity and state, worst first, each with
 * what to run next: what the page lists above the grid, so the worst thing
 * is read first whatever the width of the grid. Pure.
 */

export interface Problem {
  state: CertState;
  /** The row it belongs to: a host, or a shared pool's label. */
  identity: string;
  /** The hosts to look at: one, or a pool's holders. */
  hosts: string[];
  entries: FleetEntry[];
  /** Commands, most useful first. */
  next: string[];
  /** Why, in a few words. */
  cause: string;
}

export interface NextStepOptions {
  /**
   * Where a host's agent logs, with {host} for its name: the demo's files
   * locally. Default: the systemd journal (NixOS).
   */
  agentLog?: string;
}

function logStep(hosts: string[], o: NextStepOptions): string {
  if (o.agentLog) return hosts.map((h) => `less ${o.agentLog!.replaceAll("{host}", h)}`).join("; ");
  return `journalctl -u hak-agent (on ${hosts.join(", ")})`;
}

function nextSteps(state: CertState, hosts: string[], neverSigned: boolean, o: NextStepOptions): { cause: string; next: string[] } {
  const check = `hak-deploy check ${hosts.join(" ")}`;
  if (state === "anomaly")
    return { cause: "Vault signed a certificate no hak role should (see the cell): a role or policy has a hole", next: ["hak-pki status (ANOMALIES)", "bao write <mount>/revoke serial_number=<serial>", "hak-pki bootstrap --dry-run"] };
  if (state === "missing" && neverSigned)
    return { cause: "never signed: the host is not enrolled, or its agent never ran", next: [`hak-deploy enroll ${hosts.join(" ")}`, check, logStep(hosts, o)] };
  if (state === "missing") return { cause: "the agent has not obtained it", next: [check, logStep(hosts, o)] };
  if (hosts.length > 1 && state === "late")
    return { cause: "a holder has no current certificate (Vault cannot tell which)", next: [check, logStep(hosts, o)] };
  if (state === "expired") return { cause: "not renewed: whatever uses it is failing", next: [check, logStep(hosts, o)] };
  return { cause: "not renewed past its renewal point: the agent is stuck or down", next: [check, logStep(hosts, o)] };
}

/** Alerting entries grouped by identity and state, worst state first, then the least time left. */
export function fleetProblems(fleet: readonly FleetEntry[], o: NextStepOptions = {}): Problem[] {
  const groups = new Map<string, FleetEntry[]>();
  for (const e of fleet) {
    if (!ALERTING_STATES.includes(e.state)) continue;
    const key = `${e.state}\u0000${e.identity}`;
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  const allMissing = (identity: string) => fleet.filter((e) => e.identity === identity).every((e) => e.state === "missing");
  const left = (p: FleetEntry[]) => Math.min(...p.map((e) => e.secondsLeft ?? -Infinity));
  return [...groups.values()]
    .map((entries) => {
      const first = entries[0]!;
      const hosts = first.holder.kind === "host" ? [first.holder.host] : first.holder.hosts;
      const { cause, next } = nextSteps(first.state, hosts, first.holder.kind === "host" && allMissing(first.identity), o);
      return { state: first.state, identity: first.identity, hosts, entries, cause, next };
    })
    .sort((a, b) => severity(b.state) - severity(a.state) || left(a.entries) - left(b.entries) || a.identity.localeCompare(b.identity, "en", { numeric: true }));
}
