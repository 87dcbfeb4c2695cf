import { parse as parseYaml, YAMLParseError } from "yaml";
import { z } from "zod";
import { durationSchema } from "./duration.js";
import { InputError, parseInput, readInputFile } from "./errors.js";
import { cidrContains, cidrsOverlap, isIpAddress, parseCidr, unusableAddress } from "./ip.js";
import { objectNameClashes, HOST_SEPARATOR } from "./names.js";
import { PROFILES, PROFILE_NAMES } from "./profiles.js";
import { planOptionsSchema } from "../plan/options.js";

/**
 * The inventory: the one file an operator writes. Every name, address, SAN,
 * role and policy hak creates is derived from it (here for TypeScript, in
 * nix/lib for Nix; a test checks that both derive the same).
 */

export const HOST_ROLES = ["etcd", "controlplane", "worker", "loadbalancer"] as const;
export type HostRole = (typeof HOST_ROLES)[number];

const dnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "must be a lowercase DNS label (a-z, 0-9, '-'; at most 63 characters)");

/**
 * A host name: a DNS label, so it can never contain HOST_SEPARATOR and every
 * per-host Vault object name splits back into one (profile, host).
 */
const hostName = z
  .string()
  .regex(
    /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/,
    `must be a lowercase DNS label (a-z, 0-9, '-'; at most 63 characters; no "${HOST_SEPARATOR}", which per-host Vault names use to join profile and host)`,
  );

/** Shortest leafTtl: a certificate must outlive the agent's renewal round trips. */
export const MIN_LEAF_TTL_SECONDS = 60;
/** Longest: the CAs' own lifetime (10 years); bootstrap also checks the CAs' remaining life. */
export const MAX_LEAF_TTL_SECONDS = 87600 * 3600;

const dnsName = z
  .string()
  .regex(
    /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/,
    "must be a lowercase DNS name such as k8s.local",
  );

const ipAddress = z
  .string()
  .refine(isIpAddress, "not an IPv4/IPv6 address")
  .superRefine((s, ctx) => {
    const why = isIpAddress(s) ? unusableAddress(s) : undefined;
    if (why) ctx.addIssue({ code: "custom", message: `${s} ${why}; a host or SAN needs a unicast address` });
  });

/** Where hosts reach Vault: an http(s) URL with a host, no credentials, query or fragment. */
export const vaultAddress = z.string().superRefine((s, ctx) => {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    ctx.addIssue({ code: "custom", message: `not a URL: ${JSON.stringify(s)} (e.g. https://10.0.0.5:8200)` });
    return;
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") ctx.addIssue({ code: "custom", message: `must be an http(s) URL, not ${u.protocol}` });
  else if (!u.hostname) ctx.addIssue({ code: "custom", message: "needs a host" });
  else if (u.username || u.password || u.search || u.hash) ctx.addIssue({ code: "custom", message: "must not carry credentials, a query or a fragment" });
});
const cidr = z.string().refine((s) => parseCidr(s) !== undefined, "not a CIDR such as 10.32.0.0/24 (host bits must be zero)");

/** Node names Colmena reserves in a hive (its eval.nix `reservedNames`): a host so named cannot be deployed. */
export const COLMENA_RESERVED_NAMES = ["meta", "defaults", "network"] as const;

const deployableHostName = hostName.refine(
  (n) => !(COLMENA_RESERVED_NAMES as readonly string[]).includes(n),
  (n) => ({ message: `"${n}" is reserved by Colmena (${COLMENA_RESERVED_NAMES.join(", ")} are not node names); rename the host` }),
);

export const hostSchema = z
  .object({
    name: deployableHostName,
    role: z.enum(HOST_ROLES, { errorMap: () => ({ message: `must be one of ${HOST_ROLES.join(", ")}` }) }),
    address: ipAddress,
  })
  .strict();

export const inventorySchema = z
  .object({
    /** Cluster name: shown in kubeconfigs, metrics and the fleet page. */
    name: dnsLabel,
    /** DNS domain of the hosts: etcd1 is also etcd1.<hostDomain>. */
    hostDomain: dnsName,
    /** Kubernetes cluster DNS domain (kubelet --cluster-domain). */
    clusterDomain: dnsName.default("cluster.local"),
    /** The API virtual IP held by keepalived on the load balancers. */
    apiVip: ipAddress,
    /** Optional DNS name of the API endpoint; added to the apiserver SANs. */
    apiDnsName: dnsName.optional(),
    apiPort: z.number().int().min(1).max(65535).default(6443),
    serviceCidr: cidr,
    podCidr: cidr,
    /** Extra apiserver SANs: DNS names or IP addresses. */
    extraApiserverSans: z.array(z.union([z.string().refine(isIpAddress), dnsName], { errorMap: () => ({ message: "not an IP address or DNS name" }) })).default([]),
    /** Lifetime of every leaf certificate; the agent renews at about 2/3. */
    leafTtl: durationSchema
      .default("720h")
      .refine((s) => s >= MIN_LEAF_TTL_SECONDS, `must be at least ${MIN_LEAF_TTL_SECONDS}s: a shorter certificate expires before its agent can renew it`)
      .refine((s) => s <= MAX_LEAF_TTL_SECONDS, `must be at most ${MAX_LEAF_TTL_SECONDS / 3600}h, the CAs' lifetime`),
    hosts: z.array(hostSchema).min(1, "at least one host is needed"),
    /** Where hosts reach Vault (written into CRL/issuer URLs and agent configs). */
    vault: z
      .object({ addresses: z.array(vaultAddress).min(1) })
      .strict()
      .optional(),
    /** What the deployment chooses beyond the inventory (src/plan/options.ts, docs/plan.md): kubelet, containerd, keepalived, ... */
    plan: planOptionsSchema.partial().optional(),
  })
  .strict()
  .superRefine((inv, ctx) => {
    const seenNames = new Map<string, number>();
    const seenAddrs = new Map<string, number>();
    inv.hosts.forEach((h, i) => {
      const dupName = seenNames.get(h.name);
      if (dupName !== undefined)
        ctx.addIssue({ code: "custom", path: ["hosts", i, "name"], message: `duplicate host name "${h.name}" (also hosts[${dupName}])` });
      seenNames.set(h.name, i);
      const dupAddr = seenAddrs.get(h.address);
      if (dupAddr !== undefined)
        ctx.addIssue({ code: "custom", path: ["hosts", i, "address"], message: `duplicate address ${h.address} (also hosts[${dupAddr}])` });
      seenAddrs.set(h.address, i);
      if (h.address === inv.apiVip)
        ctx.addIssue({ code: "custom", path: ["hosts", i, "address"], message: `${h.address} is the apiVip; a host needs its own address` });
    });
    inv.extraApiserverSans.forEach((san, i) => {
      const why = isIpAddress(san) ? unusableAddress(san) : undefined;
      if (why) ctx.addIssue({ code: "custom", path: ["extraApiserverSans", i], message: `${san} ${why}; a SAN needs a unicast address` });
    });
    const svc = parseCidr(inv.serviceCidr);
    const pod = parseCidr(inv.podCidr);
    if (svc && pod && cidrsOverlap(svc, pod))
      ctx.addIssue({ code: "custom", path: ["podCidr"], message: `overlaps serviceCidr ${inv.serviceCidr}` });
    if (svc && svc.prefix >= (svc.family === 4 ? 31 : 127))
      ctx.addIssue({ code: "custom", path: ["serviceCidr"], message: "too small: the first address is needed for the kubernetes service" });
    for (const [i, h] of inv.hosts.entries()) {
      if (svc && cidrContains(svc, h.address))
        ctx.addIssue({ code: "custom", path: ["hosts", i, "address"], message: `${h.address} lies inside serviceCidr ${inv.serviceCidr}` });
    }
    // Guard for the naming scheme: no two (host, profile) pairs may share a Vault object name.
    const shared = PROFILE_NAMES.filter((p) => !PROFILES[p].perHost);
    const perHost = PROFILE_NAMES.filter((p) => PROFILES[p].perHost);
    for (const c of objectNameClashes(inv.name, inv.hosts.map((h) => ({ name: h.name, profiles: perHost })), shared)) {
      if (new Set(c.owners).size < c.owners.length) continue; // a duplicate name, reported above
      ctx.addIssue({ code: "custom", path: ["hosts"], message: `${c.kind} name "${c.name}" would belong to ${c.owners.join(" and ")}` });
    }
    const count = (r: HostRole) => inv.hosts.filter((h) => h.role === r).length;
    if (count("etcd") === 0) ctx.addIssue({ code: "custom", path: ["hosts"], message: "no host has role etcd" });
    if (count("controlplane") === 0) ctx.addIssue({ code: "custom", path: ["hosts"], message: "no host has role controlplane" });
  });

export type Inventory = z.output<typeof inventorySchema>;
export type InventoryInput = z.input<typeof inventorySchema>;
export type Host = z.output<typeof hostSchema>;

/** Validates an already-parsed document; `where` names its source in errors. */
export function parseInventory(doc: unknown, where = "inventory"): Inventory {
  return parseInput(inventorySchema, doc, where);
}

/** Reads YAML or JSON (JSON is YAML) and validates it. */
export function parseInventoryText(text: string, where: string): Inventory {
  let doc: unknown;
  try {
    // maxAliasCount bounds alias expansion ("billion laughs"); an inventory needs no aliases at all.
    doc = parseYaml(text, { prettyErrors: true, maxAliasCount: 100 });
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const pos = err.linePos?.[0];
      throw new InputError(`not valid YAML/JSON: ${err.message.split("\n")[0]}`, {
        where: pos ? `${where}:${pos.line}:${pos.col}` : where,
      });
    }
    // The alias limit and other resolution failures are ReferenceErrors, not parse errors.
    throw new InputError(`not a usable YAML document: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`, {
      where,
      fix: "write the inventory without YAML aliases (*name)",
    });
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc))
    throw new InputError("expected a mapping with name, hostDomain, apiVip, serviceCidr, podCidr, hosts", { where });
  return parseInventory(doc, where);
}

/** `from`: where the file name came from (a flag or variable), named in the error when it cannot be read. */
export function loadInventory(file: string, from?: string): Inventory {
  const text = readInputFile(file, "the inventory", {
    from,
    fix: from ? `check the path; examples/demo-cluster.yaml is a complete inventory to start from` : "pass --inventory FILE or set HAK_INVENTORY",
  });
  return parseInventoryText(text, file);
}

export function hostsWithRole(inv: Inventory, role: HostRole): Host[] {
  return inv.hosts.filter((h) => h.role === role);
}

export function findHost(inv: Inventory, name: string): Host | undefined {
  return inv.hosts.find((h) => h.name === name);
}
