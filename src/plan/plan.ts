import type { AgentConfigInput } from "../agent/config.js";
import { InputError } from "../common/errors.js";
import { findHost, type Host, type Inventory } from "../common/inventory.js";
import { hostDnsNames, PROFILES } from "../common/profiles.js";
import { agentConfig, hostProfiles } from "./agent.js";
import { controlplanePart } from "./controlplane.js";
import { etcdPart } from "./etcd.js";
import { loadbalancerPart } from "./loadbalancer.js";
import { CNI_PLUGINS, nodePart, podRoutes } from "./node.js";
import { resolvePlanOptions, type PlanOptionsInput } from "./options.js";
import { mergeParts, type Part } from "./part.js";
import * as paths from "./paths.js";
import { PLAN_SCHEMA, PLAN_VERSION, type HostPlan, type PlanCertificate, type PlanFile, type PlanService } from "./schema.js";
import { clusterPlan } from "./cluster.js";
import { isNode, nodePodCidrs } from "./topology.js";

/**
 * hostPlan(inventory, host, options): everything one host runs, derived once
 * from the inventory. Pure: no clock, no I/O, same input, same plan (byte
 * for byte once serialised), so `hak-deploy hive --check` can compare.
 */

export { clusterPlan };

function certificates(inv: Inventory, host: Host): PlanCertificate[] {
  return hostProfiles(host).map((profile) => {
    const p = PROFILES[profile];
    const h = p.perHost ? host : undefined;
    const sans = p.sans(inv, h);
    const org = p.organization(h);
    return {
      profile,
      commonName: p.commonName(h),
      organizations: org ? [org] : [],
      dnsSans: sans.dns,
      ipSans: sans.ip,
      ca: p.ca,
      certFile: paths.certFile(profile),
      keyFile: paths.keyFile(profile),
    };
  });
}

/**
 * `opts` lay over the inventory's `plan` section (a deployment's choices,
 * e.g. the local cluster's failCgroupV1: false); the plan records no trace of
 * where an option came from, only its effect.
 */
export function hostPlan(inv: Inventory, hostName: string, opts?: PlanOptionsInput): HostPlan {
  const host = findHost(inv, hostName);
  if (!host) throw new InputError(`no host "${hostName}" in the inventory (hosts: ${inv.hosts.map((h) => h.name).join(", ")})`, { where: "HOST" });
  const o = resolvePlanOptions(inv.plan, opts);
  const parts: Partial<Part>[] = [];
  if (host.role === "etcd") parts.push(etcdPart(inv, host, o));
  if (host.role === "controlplane") parts.push(controlplanePart(inv, host));
  if (isNode(host)) parts.push(nodePart(inv, host, o));
  if (host.role === "loadbalancer") parts.push(loadbalancerPart(inv, host, o));
  // Every host reaches every node's pods directly (the load balancers
  // included: pods talk to the virtual IP).
  parts.push({ routes: podRoutes(inv, host) });
  // The agent's own state; its config file is written by the consumer from `agent`.
  // 0711: the services that are not root (etcd, kubernetes, coredns) pass through to their own 0600 files; nobody lists it.
  parts.push({ directories: [{ path: paths.AGENT_STATE_DIR, mode: "0711" }, { path: paths.CERT_DIR, mode: "0755" }, { path: paths.KUBECONFIG_DIR, mode: "0755" }] });
  const merged = mergeParts(parts);
  const agent = agentConfig(inv, host, o);
  const podCidr = nodePodCidrs(inv).get(host.name);
  return {
    schema: PLAN_SCHEMA,
    version: PLAN_VERSION,
    cluster: inv.name,
    kubernetesVersion: o.kubernetesVersion,
    host: {
      name: host.name,
      role: host.role,
      address: host.address,
      fqdn: `${host.name}.${inv.hostDomain}`,
      node: isNode(host),
      ...(podCidr ? { podCidr } : {}),
    },
    certificates: certificates(inv, host),
    agentConfigFile: paths.AGENT_CONFIG_FILE,
    agent,
    ...merged,
    services: withNeeds(merged.services, merged.files, agent),
    cniPlugins: isNode(host) ? [...CNI_PLUGINS] : [],
    ...(isNode(host) ? { cniBinDir: paths.CNI_BIN_DIR } : {}),
    hostNames: inv.hosts.map((h) => ({ address: h.address, names: hostDnsNames(inv, h) })),
    images: isNode(host) ? [o.containerd.sandboxImage] : [],
    pathRoots: [...paths.PATH_ROOTS],
  };
}

/** The agent outputs whose files a service names in its arguments or in a config file it reads. */
function withNeeds(services: Omit<PlanService, "needs">[], files: PlanFile[], agent: AgentConfigInput): PlanService[] {
  const outputs = agent.outputs.map((o) => ({
    name: o.name,
    paths: o.type === "certificate" ? [o.certFile, o.keyFile, o.caFile, o.chainFile, o.bundleFile].filter((x): x is string => !!x) : [o.path],
  }));
  return services.map((s) => {
    const text = [...s.args, ...files.filter((f) => f.usedBy.includes(s.name)).map((f) => f.content)].join("\n");
    const mentions = (p: string) => new RegExp(`(^|[=\\s"',])${p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}($|[\\s"',])`, "m").test(text);
    return { ...s, needs: outputs.filter((o) => o.paths.some(mentions)).map((o) => o.name) };
  });
}

/** Every host's plan, in inventory order. */
export function allHostPlans(inv: Inventory, opts?: PlanOptionsInput): HostPlan[] {
  return inv.hosts.map((h) => hostPlan(inv, h.name, opts));
}
