import { isAbsolute } from "node:path";
import { z } from "zod";
import { parseInput } from "../common/errors.js";

/**
 * What a deployment may choose beyond the inventory, as explicit input of
 * hostPlan(): a consumer never patches a plan after the fact. Every field is
 * optional; the defaults are what a NixOS host gets (docs/plan.md lists
 * them). The local cluster, for one, turns off kubelet's cgroup v1 refusal
 * and picks the native snapshotter.
 */

const absPath = z.string().min(1).refine(isAbsolute, "must be an absolute path");

/** The Kubernetes release the flake's NixOS (26.05) ships and scripts/setup.sh builds. */
export const KUBERNETES_VERSION = "1.35.4";

export const planOptionsSchema = z
  .object({
    kubernetesVersion: z.string().regex(/^\d+\.\d+\.\d+$/, "must be a version such as 1.35.4").default(KUBERNETES_VERSION),
    vault: z
      .object({
        /** Default: the inventory's vault.addresses. */
        addresses: z.array(z.string().url()).min(1).optional(),
        /** CA of Vault's TLS certificate; default: the system trust store. */
        caFile: absPath.optional(),
      })
      .strict()
      .default({}),
    agent: z
      .object({
        /** The agent's /readyz and /metrics; default 127.0.0.1:9180. */
        listen: z.string().min(1).default("127.0.0.1:9180"),
        /** Leaf lifetime the agent requests (the role caps it); default: the role's ttl. */
        ttl: z.string().min(1).optional(),
        lateWebhook: z.string().url().optional(),
      })
      .strict()
      .default({}),
    etcd: z
      .object({
        /** "existing" for a member added to a running cluster. */
        initialClusterState: z.enum(["new", "existing"]).default("new"),
      })
      .strict()
      .default({}),
    kubelet: z
      .object({
        /** kubelet 1.35 refuses cgroup v1 unless this is false. */
        failCgroupV1: z.boolean().default(true),
        cgroupDriver: z.enum(["systemd", "cgroupfs"]).default("systemd"),
        /** Extra KubeletConfiguration fields, merged over hak's (no secrets: they land in the store). */
        extraConfig: z.record(z.unknown()).default({}),
      })
      .strict()
      .default({}),
    containerd: z
      .object({
        snapshotter: z.string().min(1).default("overlayfs"),
        /** The sandbox (pause) image containerd uses for pods. */
        sandboxImage: z.string().min(1).default("registry.k8s.io/pause:3.10"),
        /**
         * containerd clamps a pod's oom_score_adj to its own instead of failing
         * the pod, for hosts whose root lacks CAP_SYS_RESOURCE (the local cluster's).
         */
        restrictOomScoreAdj: z.boolean().default(false),
      })
      .strict()
      .default({}),
    kubeProxy: z
      .object({
        mode: z.enum(["iptables", "nftables", "ipvs"]).default("iptables"),
        /** Extra KubeProxyConfiguration fields, merged over hak's (e.g. conntrack: { maxPerCore: 0 } where /proc/sys is read-only). */
        extraConfig: z.record(z.unknown()).default({}),
      })
      .strict()
      .default({}),
    coredns: z
      .object({
        /** Where CoreDNS forwards names outside the cluster domain: a resolv.conf or addresses. */
        upstream: z.string().min(1).default("/etc/resolv.conf"),
      })
      .strict()
      .default({}),
    loadbalancer: z
      .object({
        /** Interface that carries VRRP and the virtual IP. */
        interface: z.string().min(1).default("eth0"),
        virtualRouterId: z.number().int().min(1).max(255).default(51),
        /** VRRP adverts only to the inventory's other load balancers. */
        unicast: z.boolean().default(true),
        /**
         * A file outside the store with keepalived's `authentication { ... }`
         * block, included into the VRRP instance; absent: no VRRP auth.
         */
        authFile: absPath.optional(),
      })
      .strict()
      .default({}),
  })
  .strict();

export type PlanOptions = z.output<typeof planOptionsSchema>;
export type PlanOptionsInput = z.input<typeof planOptionsSchema>;

export function parsePlanOptions(doc: unknown, where = "plan options"): PlanOptions {
  return parseInput(planOptionsSchema, doc ?? {}, where);
}

type Section = Record<string, unknown>;
const isSection = (v: unknown): v is Section => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The options a plan is made with: the inventory's `plan` section, with
 * `overrides` (a caller's, e.g. the local cluster's) laid over it field by
 * field within each section.
 */
export function resolvePlanOptions(fromInventory: unknown, overrides: PlanOptionsInput | undefined): PlanOptions {
  const base: Section = isSection(fromInventory) ? fromInventory : {};
  const over: Section = (overrides ?? {}) as Section;
  const merged: Section = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const b = base[k];
    merged[k] = isSection(v) && isSection(b) ? { ...b, ...v } : v;
  }
  return parsePlanOptions(merged, "plan options (inventory plan section and overrides)");
}
