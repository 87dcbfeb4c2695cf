import { planOptionsSchema } from "../plan/options.js";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { z } from "zod";
import { durationSchema } from "./duration.js";
import { InputError, parseInput, readInputFile } from "./errors.js";
import { cidrContains, cidrsOverlap, isIpAddress, parseCidr } from "./ip.js";

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

const dnsName = z
  .string()
  .regex(
    /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/,
    "must be a lowercase DNS name such as k8s.local",
  );

const ipAddress = z.string().refine(isIpAddress, "not an IPv4/IPv6 address");
const cidr = z.string().refine((s) => parseCidr(s) !== undefined, "not a CIDR such as 10.32.0.0/24 (host bits must be zero)");

export const hostSchema = z
  .object({
    name: dnsLabel,
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
    extraApiserverSans: z.array(z.union([ipAddress, dnsName])).default([]),
    /** Lifetime of every leaf certificate; the agent renews at about 2/3. */
    leafTtl: durationSchema.default("720h"),
    hosts: z.array(hostSchema).min(1, "at least one host is needed"),
    /** Where hosts reach Vault (written into CRL/issuer URLs and agent configs). */
    vault: z
      .object({ addresses: z.array(z.string().url()).min(1) })
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
    doc = parseYaml(text, { prettyErrors: true });
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const pos = err.linePos?.[0];
      throw new InputError(`not valid YAML/JSON: ${err.message.split("\n")[0]}`, {
        where: pos ? `${where}:${pos.line}:${pos.col}` : where,
      });
    }
    throw err;
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc))
    throw new InputError("expected a mapping with name, hostDomain, apiVip, serviceCidr, podCidr, hosts", { where });
  return parseInventory(doc, where);
}

export function loadInventory(file: string): Inventory {
  const text = readInputFile(file, "inventory", { fix: "pass --inventory FILE or set HAK_INVENTORY" });
  return parseInventoryText(text, file);
}

export function hostsWithRole(inv: Inventory, role: HostRole): Host[] {
  return inv.hosts.filter((h) => h.role === role);
}

export function findHost(inv: Inventory, name: string): Host | undefined {
  return inv.hosts.find((h) => h.name === name);
}
