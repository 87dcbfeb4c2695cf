import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../common/fsutil.js";
import type { Host, Inventory } from "../common/inventory.js";
import { lifeState } from "../common/lifetime.js";
import { approleRoleId, KV_MOUNT, SERVICE_ACCOUNT_SECRET } from "../common/names.js";
import { profilesForRole, PROFILES, requestSpec } from "../common/profiles.js";
import type { VaultClient } from "../common/vault.js";
import { certFacts } from "../common/x509.js";
import type { AgentConfigInput } from "../agent/config.js";
import { mintSecretId } from "../deploy/enroll.js";
import { caPath, certDir, certPaths, hostRoot } from "./hosts.js";

/**
 * One hak-agent per demo host, configured as the NixOS module configures it
 * on a real host (docs/agent-config.md), with every path under the host's
 * folder, its own loopback address as source address and listen address,
 * and files owned by whoever runs the demo instead of root/etcd/kubernetes.
 */

export const AGENT_PORT = 9180;

export function agentConfigPath(demoDir: string, host: string): string {
  return join(hostRoot(demoDir, host), "etc", "hak-agent", "config.json");
}

export function secretIdPath(demoDir: string, host: string): string {
  return join(hostRoot(demoDir, host), "var", "lib", "hak-agent", "secret-id");
}

export interface AgentVault {
  address: string;
  caFile: string;
}

/** The agent's JSON config for a demo host: a certificate output per profile of its role, the service-account pair on control planes. */
export function demoAgentConfig(inv: Inventory, host: Host, demoDir: string, vault: AgentVault): AgentConfigInput {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const own = { owner: uid, group: gid, mode: "0600" } as const;
  // One writer per file: the first output of each CA also writes that CA's bundle.
  const caWritten = new Set<string>();
  const outputs: AgentConfigInput["outputs"] = profilesForRole(host.role).map((p) => {
    const spec = requestSpec(inv, p.name, p.perHost ? host : undefined);
    const files = certPaths(demoDir, host.name, p.name);
    const ca = PROFILES[p.name].ca;
    const caFile = caWritten.has(ca) ? {} : { caFile: caPath(demoDir, host.name, ca) };
    caWritten.add(ca);
    return {
      type: "certificate" as const,
      name: p.name,
      profile: p.name,
      commonName: spec.commonName,
      dns: spec.dns,
      ip: spec.ip,
      certFile: files.cert,
      keyFile: files.key,
      ...caFile,
      ...own,
      // etcd re-reads its certificate files on every new TLS handshake; nothing to reload here.
      actions: [],
    };
  });
  if (host.role === "controlplane") {
    for (const [name, field] of [
      ["sa.key", "key"],
      ["sa.pub", "pub"],
    ] as const) {
      outputs.push({ type: "secret" as const, name, mount: KV_MOUNT, secret: SERVICE_ACCOUNT_SECRET, field, path: join(certDir(demoDir, host.name), name), ...own, actions: [] });
    }
  }
  return {
    host: host.name,
    vault: { addresses: [vault.address], caFile: vault.caFile, sourceAddress: host.address },
    auth: { roleId: approleRoleId(inv.name, host.name), secretIdFile: secretIdPath(demoDir, host.name) },
    listen: `${host.address}:${AGENT_PORT}`,
    outputs,
  };
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
  writeFileAtomic(config, `${JSON.stringify(demoAgentConfig(inv, host, demoDir, vault), null, 2)}\n`, { mode: 0o644 });
  if (hasIdentity(demoDir, host.name, new Date())) return { config, enrolled: false };
  const secret = await mintSecretId(operator, host);
  writeFileAtomic(secretIdPath(demoDir, host.name), `${secret.secret_id}\n`, { mode: 0o600 });
  return { config, enrolled: true };
}
