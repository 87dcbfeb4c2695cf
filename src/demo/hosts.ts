import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../common/fsutil.js";
import type { Host, Inventory } from "../common/inventory.js";
import { lifeState } from "../common/lifetime.js";
import type { CaName } from "../common/names.js";
import { profilesForRole, PROFILES, type ProfileName } from "../common/profiles.js";
import type { VaultClient } from "../common/vault.js";
import { certFacts } from "../common/x509.js";
import { signProfile } from "../pki/issue.js";
import type { EtcdTls } from "./etcd.js";

/**
 * Each demo host is a folder standing for its root file system:
 * .state/demo/hosts/<host>/var/lib/hak-agent/certs/... — the same layout the
 * NixOS module gives the agent (nix/lib/paths.nix), so what a person finds
 * here is what they would find on a host.
 */

export function hostRoot(demoDir: string, host: string): string {
  return join(demoDir, "hosts", host);
}

export function certDir(demoDir: string, host: string): string {
  return join(hostRoot(demoDir, host), "var", "lib", "hak-agent", "certs");
}

export function certPaths(demoDir: string, host: string, profile: ProfileName): { cert: string; key: string } {
  const d = certDir(demoDir, host);
  return { cert: join(d, `${profile}.crt`), key: join(d, `${profile}.key`) };
}

export function caPath(demoDir: string, host: string, ca: CaName): string {
  return join(certDir(demoDir, host), `${ca}-ca.crt`);
}

export function etcdTls(demoDir: string, host: string): EtcdTls {
  const server = certPaths(demoDir, host, "etcd-server");
  const peer = certPaths(demoDir, host, "etcd-peer");
  return { serverCert: server.cert, serverKey: server.key, peerCert: peer.cert, peerKey: peer.key, ca: caPath(demoDir, host, "etcd") };
}

/** True when the file holds a certificate that is not past its renewal point. */
function currentCert(file: string, now: Date): boolean {
  if (!existsSync(file)) return false;
  try {
    const f = certFacts(readFileSync(file, "utf8"));
    return lifeState(now, f.notBefore, f.notAfter) === "ok";
  } catch {
    return false;
  }
}

/**
 * STAND-IN for hak-agent while it is not on main: signs each certificate of
 * the host once with the operator's token (keys made here, 0600), in the
 * agent's layout. It does not renew, log in as the host, or reload anything;
 * the demo says so when it uses this.
 */
export async function issueOnceStandIn(client: VaultClient, inv: Inventory, demoDir: string, host: Host, ttl?: string): Promise<number> {
  let issued = 0;
  const now = new Date();
  for (const p of profilesForRole(host.role)) {
    const files = certPaths(demoDir, host.name, p.name);
    if (currentCert(files.cert, now)) continue;
    const s = await signProfile(client, inv, { profile: p.name, host: p.perHost ? host.name : undefined, ttl });
    writeFileAtomic(files.key, s.keyPem, { mode: 0o600 });
    writeFileAtomic(files.cert, s.certPem, { mode: 0o644 });
    writeFileAtomic(caPath(demoDir, host.name, PROFILES[p.name].ca), s.caPem, { mode: 0o644 });
    issued++;
  }
  return issued;
}
