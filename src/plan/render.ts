import { renderTable } from "../common/table.js";
import type { ClusterPlan, HostPlan } from "./schema.js";

/**
 * `hak-deploy plan HOST` for a person: what the host holds and runs, in the
 * order one reads a unit file: certificates, the agent's outputs, services
 * with their full command lines, files, the rest. `--json` prints the plan.
 */

/** One flag per line, a flag's separate value on its line ("-f FILE"). */
function commandLine(program: string, args: string[]): string {
  const lines: string[] = [program];
  for (const a of args) {
    const last = lines.length - 1;
    if (last > 0 && !a.startsWith("-") && !lines[last]!.includes("=")) lines[last] += ` ${a}`;
    else lines.push(`    ${a}`);
  }
  return lines.join(" \\\n");
}

export function renderHostPlan(p: HostPlan, opts: { files?: boolean } = {}): string {
  const out: string[] = [];
  const h = p.host;
  out.push(`${h.name} (${h.role}) ${h.address} ${h.fqdn}  cluster ${p.cluster}, Kubernetes ${p.kubernetesVersion}, ${p.schema}`);
  if (h.podCidr) out.push(`pod subnet ${h.podCidr}`);
  out.push("", "CERTIFICATES");
  out.push(
    renderTable(
      ["PROFILE", "CA", "COMMON NAME", "O", "SANS"],
      p.certificates.map((c) => [c.profile, c.ca, c.commonName, c.organizations.join(",") || "-", [...c.dnsSans, ...c.ipSans].join(",") || "-"]),
    ),
  );
  out.push("", "AGENT OUTPUTS");
  out.push(
    renderTable(
      ["NAME", "TYPE", "PATH", "OWNER", "MODE", "AFTER A CHANGE"],
      p.agent.outputs.map((o) => [
        o.name,
        o.type,
        o.type === "certificate" ? `${o.certFile} (+key, ca ${o.caFile ?? "-"})` : o.path,
        `${o.owner ?? "root"}:${o.group ?? "root"}`,
        String(o.mode ?? "0600"),
        (o.actions ?? []).map((a) => (a.type === "command" ? a.argv.join(" ") : a.type === "http-get" ? `GET ${new URL(a.url).pathname}` : `${a.type} ${a.unit}`)).join(", ") || "-",
      ]),
    ),
  );
  out.push(`vault ${p.agent.vault.addresses.join(", ")}; listen ${p.agent.listen ?? "-"}`);
  out.push("", "SERVICES");
  for (const s of p.services) {
    const who = s.user ? ` as ${s.user}${s.group ? `:${s.group}` : ""}` : " as root";
    const reload = s.reload.kind === "signal" ? `reload ${s.reload.signal}` : s.reload.kind === "restart" ? "reload by restart" : "no reload";
    const ready = s.readiness ? `ready: ${s.readiness.kind} ${"url" in s.readiness ? s.readiness.url : "path" in s.readiness ? s.readiness.path : `${s.readiness.host}:${s.readiness.port}`}` : "no readiness check";
    out.push(`${s.name}${who}; ${reload}; ${ready}${s.after.length ? `; after ${s.after.join(", ")}` : ""}`);
    out.push(commandLine(s.program, s.args).replace(/^/gm, "  "), "");
  }
  out.push("FILES");
  out.push(renderTable(["PATH", "MODE", "LINES", "USED BY"], p.files.map((f) => [f.path, f.mode, String(f.content.split("\n").length - 1), f.usedBy.join(",")])));
  if (p.users.length) out.push("", `USERS ${p.users.map((u) => u.name).join(", ")}`);
  out.push("", "FIREWALL");
  const rule = (proto: string, r: HostPlan["firewall"]["tcp"][number]) => [
    proto,
    r.port !== undefined ? String(r.port) : `${r.range![0]}-${r.range![1]}`,
    r.from?.join(",") ?? "anywhere",
    r.why,
  ];
  out.push(
    renderTable(
      ["PROTO", "PORT", "FROM", "WHY"],
      [...p.firewall.tcp.map((r) => rule("tcp", r)), ...p.firewall.udp.map((r) => rule("udp", r)), ...p.firewall.protocols.map((r) => [r.protocol, "-", r.from.join(","), r.why])],
    ),
  );
  if (p.routes.length) out.push("", `ROUTES ${p.routes.map((r) => `${r.destination} via ${r.via} (${r.node})`).join(", ")}`);
  if (opts.files) for (const f of p.files) out.push("", `--- ${f.path} (${f.mode})`, f.content.trimEnd());
  return out.join("\n");
}

export function renderClusterPlan(p: ClusterPlan): string {
  return [
    `cluster ${p.cluster}: objects hak applies once the first apiserver answers`,
    renderTable(["KIND", "NAME"], p.manifests.map((m) => [m.kind, m.metadata.name])),
    "",
    "node labels (set once the node registered)",
    renderTable(["NODE", "LABELS"], p.nodeLabels.map((n) => [n.node, Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(",")])),
  ].join("\n");
}
