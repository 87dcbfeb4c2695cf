import { isAbsolute } from "node:path";
import { z } from "zod";
import { agentConfigSchema } from "../agent/config.js";
import { CA_NAMES } from "../common/names.js";
import { HOST_ROLES } from "../common/inventory.js";
import { PROFILE_NAMES } from "../common/profiles.js";
import { parseInput } from "../common/errors.js";

/**
 * The host plan: everything one host runs, derived from the inventory by
 * hostPlan() (plan.ts) and read by every consumer (the NixOS modules, the
 * local cluster, the demo). Plain JSON data; paths are as they are on the
 * host, programs are names the consumer maps to binaries. docs/plan.md
 * describes every field; `version` changes when a field changes meaning or
 * goes away (adding an optional field does not).
 */

export const PLAN_SCHEMA = "hak.plan/v1";
export const PLAN_VERSION = 1;
export const CLUSTER_PLAN_SCHEMA = "hak.cluster-plan/v1";

const absPath = z.string().min(1).refine(isAbsolute, "must be an absolute path");
const octalMode = z.string().regex(/^0[0-7]{3}$/, 'must be an octal mode such as "0644"');
const name = z.string().regex(/^[a-z0-9][-a-z0-9_.@]*$/, "must be a lowercase name");

export const certificateSchema = z
  .object({
    profile: z.enum(PROFILE_NAMES),
    commonName: z.string().min(1),
    organizations: z.array(z.string().min(1)),
    dnsSans: z.array(z.string().min(1)),
    ipSans: z.array(z.string().min(1)),
    ca: z.enum(CA_NAMES),
    /** Where the agent writes it (the agent config's output of the same name holds the rest). */
    certFile: absPath,
    keyFile: absPath,
  })
  .strict();

/** How a unit picks up a changed file of its own (config, certificate read at start). */
export const reloadSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("signal"), signal: z.string().regex(/^SIG[A-Z0-9]+$/) }).strict(),
  z.object({ kind: z.literal("restart") }).strict(),
  z.object({ kind: z.literal("none") }).strict(),
]);

/** When a started service counts as up; the consumer polls it. */
export const readinessSchema = z.discriminatedUnion("kind", [
  z
    .object({
      kind: z.literal("https"),
      url: z.string().url(),
      /** CA to verify the server with; absent with `insecure` (self-signed serving certificates). */
      caFile: absPath.optional(),
      insecure: z.boolean().optional(),
      /** A client certificate, for servers that require one. */
      certFile: absPath.optional(),
      keyFile: absPath.optional(),
    })
    .strict(),
  z.object({ kind: z.literal("http"), url: z.string().url() }).strict(),
  z.object({ kind: z.literal("tcp"), host: z.string().min(1), port: z.number().int().min(1).max(65535) }).strict(),
  z.object({ kind: z.literal("unix"), path: absPath }).strict(),
]);

export const serviceSchema = z
  .object({
    /** systemd unit name without ".service", e.g. kube-apiserver; agent actions name `<name>.service`. */
    name,
    /** Binary name ("kube-apiserver", "etcd", "haproxy"); the consumer maps it to a path. */
    program: name,
    args: z.array(z.string()),
    env: z.record(z.string()).optional(),
    user: z.string().min(1).optional(),
    group: z.string().min(1).optional(),
    /** Ambient capabilities a non-root service needs (CAP_NET_BIND_SERVICE for CoreDNS on port 53). */
    capabilities: z.array(z.string().regex(/^CAP_[A-Z_]+$/)).optional(),
    /** Services of this plan (names) that must be started first. */
    after: z.array(name),
    /** Agent outputs (names) whose files it reads: start it once the agent has written them. */
    needs: z.array(z.string().min(1)),
    reload: reloadSchema,
    readiness: readinessSchema.optional(),
    /** What it is, one line (unit Description). */
    description: z.string().min(1),
  })
  .strict();

export const fileSchema = z
  .object({
    path: absPath,
    content: z.string(),
    mode: octalMode,
    owner: z.string().min(1).optional(),
    group: z.string().min(1).optional(),
    /** Services that read it: a changed file reloads them (their `reload`). */
    usedBy: z.array(name),
  })
  .strict();

export const directorySchema = z.object({ path: absPath, mode: octalMode, owner: z.string().min(1).optional(), group: z.string().min(1).optional() }).strict();

export const userSchema = z
  .object({
    name,
    /** A system account: no login, no home beyond `home`. */
    system: z.literal(true),
    group: name,
    home: absPath.optional(),
    /** Extra groups (e.g. hak-coredns to read the coredns key). */
    extraGroups: z.array(name),
  })
  .strict();

const port = z.number().int().min(1).max(65535);
const firewallRule = z
  .object({
    port: port.optional(),
    range: z.tuple([port, port]).optional(),
    /** Source CIDRs allowed; absent: from anywhere. */
    from: z.array(z.string().min(1)).optional(),
    why: z.string().min(1),
  })
  .strict()
  .refine((r) => (r.port === undefined) !== (r.range === undefined), "needs exactly one of port and range");

export const firewallSchema = z
  .object({
    tcp: z.array(firewallRule),
    udp: z.array(firewallRule),
    /** IP protocols by name (vrrp) with their allowed sources. */
    protocols: z.array(z.object({ protocol: z.enum(["vrrp"]), from: z.array(z.string().min(1)), why: z.string().min(1) }).strict()),
  })
  .strict();

/** A route the host needs: other nodes' pod subnets via those nodes. */
export const routeSchema = z.object({ destination: z.string().min(1), via: z.string().min(1), node: name }).strict();

export const hostPlanSchema = z
  .object({
    schema: z.literal(PLAN_SCHEMA),
    version: z.literal(PLAN_VERSION),
    cluster: z.string().min(1),
    kubernetesVersion: z.string().regex(/^\d+\.\d+\.\d+$/),
    host: z
      .object({
        name,
        role: z.enum(HOST_ROLES),
        address: z.string().min(1),
        fqdn: z.string().min(1),
        /** Is a Kubernetes node (kubelet runs): workers and control-plane hosts. */
        node: z.boolean(),
        /** Its pod subnet (CNI host-local range), on nodes. */
        podCidr: z.string().optional(),
      })
      .strict(),
    certificates: z.array(certificateSchema),
    /** Where the consumer writes `agent` on the host (hak-agent's argument). */
    agentConfigFile: absPath,
    /** The agent's config file as written on the host; parsed by the agent's own schema. */
    agent: z.unknown().superRefine((doc, ctx) => {
      const res = agentConfigSchema.safeParse(doc);
      if (!res.success) for (const i of res.error.issues) ctx.addIssue({ ...i, path: [...i.path] });
    }),
    services: z.array(serviceSchema),
    files: z.array(fileSchema),
    directories: z.array(directorySchema),
    users: z.array(userSchema),
    groups: z.array(name),
    firewall: firewallSchema,
    routes: z.array(routeSchema),
    /** Kernel settings (sysctl names to values). */
    sysctl: z.record(z.union([z.string(), z.number()])),
    /** CNI plugins the consumer puts in the CNI bin folder (nodes; empty elsewhere). */
    cniPlugins: z.array(name),
    /** Where they go (containerd's CNI bin_dir), on nodes. */
    cniBinDir: absPath.optional(),
    /**
     * Names every host resolves without DNS (its /etc/hosts): each inventory
     * host by name and FQDN. The apiservers dial kubelets by name (see the
     * control-plane part), so they need it.
     */
    hostNames: z.array(z.object({ address: z.string().min(1), names: z.array(z.string().min(1)).min(1) }).strict()),
    /** Container images the node's containerd must hold before pods start (the sandbox image). */
    images: z.array(z.string().min(1)),
    /** Every absolute host path in the plan starts with one of these. */
    pathRoots: z.array(absPath),
  })
  .strict();

export type HostPlan = Omit<z.output<typeof hostPlanSchema>, "agent"> & { agent: import("../agent/config.js").AgentConfigInput };
export type PlanCertificate = z.output<typeof certificateSchema>;
export type PlanService = z.output<typeof serviceSchema>;
export type PlanFile = z.output<typeof fileSchema>;
export type PlanDirectory = z.output<typeof directorySchema>;
export type PlanUser = z.output<typeof userSchema>;
export type PlanFirewall = z.output<typeof firewallSchema>;
export type PlanRoute = z.output<typeof routeSchema>;
export type Readiness = z.output<typeof readinessSchema>;
export type Reload = z.output<typeof reloadSchema>;

export const clusterPlanSchema = z
  .object({
    schema: z.literal(CLUSTER_PLAN_SCHEMA),
    version: z.literal(PLAN_VERSION),
    cluster: z.string().min(1),
    kubernetesVersion: z.string(),
    /** Kubernetes objects hak applies once the first apiserver answers (what kubeadm would create). */
    manifests: z.array(z.object({ apiVersion: z.string(), kind: z.string(), metadata: z.object({ name: z.string() }).passthrough() }).passthrough()),
    /**
     * Labels hak sets on nodes once they registered (kubeadm's control-plane
     * role label): NodeRestriction forbids a kubelet to set node-role labels itself.
     */
    nodeLabels: z.array(z.object({ node: z.string().min(1), labels: z.record(z.string()) }).strict()),
  })
  .strict();

export type ClusterPlan = z.output<typeof clusterPlanSchema>;
export type KubeObject = ClusterPlan["manifests"][number];

/** Validates a plan read back from a file (a consumer's check). */
export function parseHostPlan(doc: unknown, where = "plan"): HostPlan {
  return parseInput(hostPlanSchema, doc, where) as HostPlan;
}

export function parseClusterPlan(doc: unknown, where = "cluster plan"): ClusterPlan {
  return parseInput(clusterPlanSchema, doc, where);
}
