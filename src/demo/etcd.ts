import type { Host } from "../common/inventory.js";

/**
 * A real 3-node etcd cluster on the certificates the agents wrote, one member
 * per etcd host of the demo inventory, each on its host's loopback address.
 * Pure: the command lines; the demo starts them.
 */

export interface EtcdTls {
  serverCert: string;
  serverKey: string;
  peerCert: string;
  peerKey: string;
  /** The etcd CA bundle. */
  ca: string;
}

export interface EtcdMember {
  host: Host;
  dataDir: string;
  tls: EtcdTls;
}

export interface EtcdPorts {
  client: number;
  peer: number;
}

export const DEFAULT_ETCD_PORTS: EtcdPorts = { client: 2379, peer: 2380 };

const url = (address: string, port: number) => `https://${address}:${port}`;

export function etcdClientUrls(members: readonly EtcdMember[], ports: EtcdPorts): string[] {
  return members.map((m) => url(m.host.address, ports.client));
}

/** etcd's flags for one member; both listeners require client certificates signed by the etcd CA. */
export function etcdArgs(member: EtcdMember, all: readonly EtcdMember[], ports: EtcdPorts, clusterToken: string): string[] {
  const a = member.host.address;
  return [
    `--name=${member.host.name}`,
    `--data-dir=${member.dataDir}`,
    `--listen-client-urls=${url(a, ports.client)}`,
    `--advertise-client-urls=${url(a, ports.client)}`,
    `--listen-peer-urls=${url(a, ports.peer)}`,
    `--initial-advertise-peer-urls=${url(a, ports.peer)}`,
    `--initial-cluster=${all.map((m) => `${m.host.name}=${url(m.host.address, ports.peer)}`).join(",")}`,
    // Ignored once the data folder holds a member: a second run rejoins the same cluster.
    "--initial-cluster-state=new",
    `--initial-cluster-token=${clusterToken}`,
    `--cert-file=${member.tls.serverCert}`,
    `--key-file=${member.tls.serverKey}`,
    `--trusted-ca-file=${member.tls.ca}`,
    "--client-cert-auth=true",
    `--peer-cert-file=${member.tls.peerCert}`,
    `--peer-key-file=${member.tls.peerKey}`,
    `--peer-trusted-ca-file=${member.tls.ca}`,
    "--peer-client-cert-auth=true",
    "--logger=zap",
    "--log-outputs=stderr",
  ];
}
