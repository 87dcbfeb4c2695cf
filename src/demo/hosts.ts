import { join } from "node:path";
import type { CaName } from "../common/names.js";
import type { ProfileName } from "../common/profiles.js";
import type { EtcdTls } from "./etcd.js";

/**
 * Each demo host is a folder standing for its root file system:
 * .state/demo/hosts/<host>/var/lib/hak-agent/certs/... — the same layout the
 * NixOS module gives the agent (src/plan/paths.ts), so what a person finds
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
