import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../common/fsutil.js";
import type { Host, Inventory } from "../common/inventory.js";
import { lifeState } from "../common/lifetime.js";
import { hostPlan, relocatePlan } from "../plan/index.js";
import type { VaultClient } from "../common/vault.js";
import { certFacts } from "../common/x509.js";
import type { AgentConfigInput } from "../agent/config.js";
import { mintSecretId } from "../deploy/enroll.js";
import { certPaths, hostRoot } from "./hosts.js";

/**
 * One hak-agent per demo host, running its host plan's agent config (what
 * the NixOS module runs on a real host), with every path under the host's
 * folder, its own loopback address as source address and listen address,
 * and files owned by whoever runs the demo instead of root/etcd/kubernetes.
 */

export const AGENT_PORT = 9180;

export function agentConfigPath(demoDir: string, host: string): string {
  return join(hostRoot(demoDir, host), "etc", "hak-agent", "config.json");
}

export interface AgentVault {
  address: string;
  caFile: string;
}

/**
 * The agent's JSON config for a demo host: the host plan's (src/plan), moved
 * under the host's folder, owned by whoever runs the demo, without actions
 * (the demo runs no unit they name; etcd rereads its certificates itself).
 */
export function demoAgentConfig(inv: Inventory, host: Host, demoDir: string, vault: AgentVault): AgentConfigInput {
  const plan = hostPlan(inv, host.name, { vault: { addresses: [vault.address], caFile: vault.caFile }, agent: { listen: `${host.address}:${AGENT_PORT}` } });
  return relocatePlan(plan, hostRoot(demoDir, host.name), { owner: process.getuid?.() ?? 0, group: process.getgid?.() ?? 0, dropActions: true }).agent;
}

/** The host already holds a valid identity certificate: the agent logs in with it, no secret ID needed. */
function hasIdentity(demoDir: string, host: string, now: Date): boolean {
  const file = certPaths(demoDir, host, "host-identity").cert;
  if (!existsSync(file)) return false;
  try {
    const f = certFacts(readFileSync(file, "utf8"));
    return lifeState(now, f.notBefore, f.notAfter) !== "expired";
  } catch {
    return false;
  }
}

/**
 * Writes the host's config and, if it has no identity yet, enrolls it: a
 * single-use secret ID bound to the host's loopback address, 0600 in the
 * host's folder (what `hak-deploy enroll` pushes over SSH on a real host).
 */
export async function prepareAgent(operator: VaultClient, inv: Inventory, host: Host, demoDir: string, vault: AgentVault): Promise<{ config: string; enrolled: boolean }> {
  const config = agentConfigPath(demoDir, host.name);
  const cfg = demoAgentConfig(inv, host, demoDir, vault);
  writeFileAtomic(config, `${JSON.stringify(cfg, null, 2)}\n`, { mode: 0o644 });
  if (hasIdentity(demoDir, host.name, new Date())) return { config, enrolled: false };
  const secret = await mintSecretId(operator, host);
  writeFileAtomic(cfg.auth.secretIdFile, `${secret.secret_id}\n`, { mode: 0o600 });
  return { config, enrolled: true };
}
