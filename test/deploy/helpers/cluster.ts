import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseInventory, type Host, type Inventory } from "../../../src/common/inventory.js";
import { freePort } from "../../../src/common/localbao.js";
import type { SshSettings } from "../../../src/deploy/ssh.js";
import { makeKey, startSshd, type TestSshd } from "./sshd.js";

/**
 * A small inventory whose hosts live on loopback addresses: Linux routes all
 * of 127/8 to this machine, so a test can run an sshd "on" each host and a
 * client can bind its source address to a host's address, which is what
 * Vault's CIDR binding checks.
 */
export function loopbackInventory(name: string, net: string, hosts: { name: string; role: "etcd" | "controlplane" | "worker" | "loadbalancer"; last: number }[]): Inventory {
  return parseInventory({
    name,
    hostDomain: "k8s.test",
    apiVip: `${net}.250`,
    serviceCidr: "10.32.0.0/24",
    podCidr: "10.200.0.0/16",
    leafTtl: "24h",
    hosts: hosts.map((h) => ({ name: h.name, role: h.role, address: `${net}.${h.last}` })),
  });
}

/** Real sshd "hosts" for some of an inventory's hosts, a client key they trust, and a known_hosts with their keys. */
export interface SshHosts {
  sshds: Record<string, TestSshd>;
  port: number;
  knownHostsFile: string;
  settings: SshSettings;
  /** A file as the named host sees it. */
  onHost(name: string, path: string): string;
  stop(): Promise<void>;
}

export async function startSshHosts(dir: string, hosts: Host[], opts: { privateDir?: string } = {}): Promise<SshHosts> {
  const client = makeKey(dir, "operator");
  const port = await freePort();
  const sshds: Record<string, TestSshd> = {};
  for (const h of hosts) sshds[h.name] = await startSshd({ address: h.address, port, authorizedKeys: [client.publicKey], privateDir: opts.privateDir });
  const knownHostsFile = join(dir, "known_hosts");
  writeFileSync(knownHostsFile, Object.values(sshds).map((s) => `[${s.address}]:${s.port} ${s.hostKeyPub}\n`).join(""));
  return {
    sshds,
    port,
    knownHostsFile,
    settings: { user: "root", port, privateKey: readFileSync(client.privateKeyFile, "utf8"), knownHostsFile, acceptNew: false, connectTimeoutMs: 5000 },
    onHost: (name, path) => sshds[name]!.hostPath(path),
    stop: async () => {
      for (const s of Object.values(sshds)) await s.stop();
    },
  };
}
