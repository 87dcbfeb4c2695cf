import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino, type Logger } from "pino";
import { findHost, parseInventory, type Inventory, type InventoryInput } from "../../src/common/inventory.js";
import { freePort, startLocalServer, type LocalBao } from "../../src/common/localbao.js";
import { approleRoleId } from "../../src/common/names.js";
import { requestSpec, type ProfileName } from "../../src/common/profiles.js";
import type { VaultClient } from "../../src/common/vault.js";
import { bootstrap } from "../../src/pki/bootstrap.js";
import { parseAgentConfig, type AgentConfig, type AgentConfigInput } from "../../src/agent/config.js";

/**
 * A real OpenBao (TLS, raft, init/unseal) bootstrapped by hak-pki for a
 * loopback inventory, and agent configs for its hosts. The server can be
 * stopped and started again on the same ports and storage (Vault outages).
 */

export function loopbackInventory(name: string, net: string, extra: Partial<InventoryInput> = {}): Inventory {
  return parseInventory({
    name,
    hostDomain: "k8s.local",
    apiVip: `${net}.10`,
    serviceCidr: "10.32.0.0/24",
    podCidr: "10.200.0.0/16",
    hosts: [
      { name: "etcd1", role: "etcd", address: `${net}.11` },
      { name: "etcd2", role: "etcd", address: `${net}.12` },
      { name: "etcd3", role: "etcd", address: `${net}.13` },
      { name: "controlplane1", role: "controlplane", address: `${net}.21` },
    ],
    ...extra,
  });
}

export interface Lab {
  inv: Inventory;
  bao: LocalBao;
  root: VaultClient;
  /** Scratch folder for this lab's files. */
  dir: string;
  stopBao(): Promise<void>;
  startBao(): Promise<void>;
  secretIdFor(host: string): Promise<string>;
  cleanup(): Promise<void>;
}

export async function startLab(inv: Inventory): Promise<Lab> {
  const dir = mkdtempSync(join(tmpdir(), "hak-agent-"));
  const stateDir = join(dir, "bao");
  const ports = { port: await freePort(), clusterPort: await freePort() };
  let bao = await startLocalServer({ stateDir, ...ports });
  const root = bao.client();
  await bootstrap(root, inv, {});
  const lab: Lab = {
    inv,
    get bao() {
      return bao;
    },
    root,
    dir,
    stopBao: () => bao.stop(),
    startBao: async () => {
      bao = await startLocalServer({ stateDir, ...ports });
    },
    secretIdFor: async (host) => {
      const r = await root.write<{ secret_id: string }>(`auth/approle/role/${host}/secret-id`, {});
      return r!.data!.secret_id;
    },
    cleanup: async () => {
      await root.close();
      await bao.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return lab;
}

/** A certificate output for a profile with the SANs the inventory gives it. */
export function certOutput(inv: Inventory, host: string, profile: ProfileName, dir: string, extra: Record<string, unknown> = {}) {
  const h = findHost(inv, host)!;
  const spec = requestSpec(inv, profile, h);
  return {
    type: "certificate" as const,
    name: profile,
    profile,
    commonName: spec.commonName,
    dns: spec.dns,
    ip: spec.ip,
    certFile: join(dir, `${profile}.crt`),
    keyFile: join(dir, `${profile}.key`),
    caFile: join(dir, `${profile}-ca.crt`),
    ...extra,
  };
}

/** A host's agent config: identity output plus `outputs`; writes a fresh secret ID when asked. */
export async function hostConfig(
  lab: Lab,
  host: string,
  dir: string,
  outputs: AgentConfigInput["outputs"],
  opts: { secretId?: boolean; extra?: Partial<AgentConfigInput> } = {},
): Promise<AgentConfig> {
  const h = findHost(lab.inv, host)!;
  const secretIdFile = join(dir, "secret-id");
  mkdirSync(dir, { recursive: true });
  if (opts.secretId) writeFileSync(secretIdFile, `${await lab.secretIdFor(host)}\n`, { mode: 0o600 });
  return parseAgentConfig({
    host,
    vault: { addresses: [lab.bao.address], caFile: lab.bao.caFile, sourceAddress: h.address, timeout: "5s" },
    auth: { roleId: approleRoleId(lab.inv.name, host), secretIdFile },
    renewal: { backoffMin: "1s", backoffMax: "5s", debounce: "0s" },
    outputs: [certOutput(lab.inv, host, "host-identity", join(dir, "identity")), ...outputs],
    ...opts.extra,
  });
}

/** A pino logger into memory, so tests can read what the agent logged. */
export function memoryLogger(): { log: Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const log = pino({ level: "debug" }, stream);
  return {
    log,
    lines: () =>
      chunks
        .join("")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
