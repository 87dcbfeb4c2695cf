import type { PlanDirectory, PlanFile, PlanFirewall, PlanRoute, PlanService, PlanUser } from "./schema.js";

/**
 * What one role module (etcd.ts, controlplane.ts, node.ts, loadbalancer.ts)
 * contributes to a host's plan; plan.ts concatenates the parts of a host.
 */
/** A service before plan.ts works out which agent outputs it needs. */
export type PartService = Omit<PlanService, "needs">;

export interface Part {
  services: PartService[];
  files: PlanFile[];
  directories: PlanDirectory[];
  users: PlanUser[];
  groups: string[];
  firewall: PlanFirewall;
  routes: PlanRoute[];
  sysctl: Record<string, string | number>;
}

export function emptyPart(): Part {
  return { services: [], files: [], directories: [], users: [], groups: [], firewall: { tcp: [], udp: [], protocols: [] }, routes: [], sysctl: {} };
}

export function mergeParts(parts: Partial<Part>[]): Part {
  const out = emptyPart();
  for (const p of parts) {
    out.services.push(...(p.services ?? []));
    out.files.push(...(p.files ?? []));
    out.directories.push(...(p.directories ?? []));
    for (const u of p.users ?? []) if (!out.users.some((x) => x.name === u.name)) out.users.push(u);
    for (const g of p.groups ?? []) if (!out.groups.includes(g)) out.groups.push(g);
    out.firewall.tcp.push(...(p.firewall?.tcp ?? []));
    out.firewall.udp.push(...(p.firewall?.udp ?? []));
    out.firewall.protocols.push(...(p.firewall?.protocols ?? []));
    out.routes.push(...(p.routes ?? []));
    Object.assign(out.sysctl, p.sysctl ?? {});
  }
  return out;
}

/**
 * Kubernetes-style flags from a map, sorted by name as kubeadm writes its
 * static-pod commands: `--name=value`. Arrays are joined with commas.
 */
export function flags(m: Record<string, string | number | boolean | string[] | undefined>): string[] {
  return Object.keys(m)
    .sort()
    .flatMap((k) => {
      const v = m[k];
      if (v === undefined) return [];
      return [`--${k}=${Array.isArray(v) ? v.join(",") : String(v)}`];
    });
}

export function systemUser(name: string, extra: Partial<PlanUser> = {}): PlanUser {
  return { name, system: true, group: name, extraGroups: [], ...extra };
}
