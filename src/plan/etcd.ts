import type { Host, Inventory } from "../common/inventory.js";
import { hostsWithRole } from "../common/inventory.js";
import type { PlanOptions } from "./options.js";
import { flags, systemUser, type Part } from "./part.js";
import * as paths from "./paths.js";
import { ETCD_CLIENT_PORT, ETCD_PEER_PORT, etcdClientUrl, etcdInitialCluster, etcdPeerUrl, hostUrl } from "./topology.js";
import { hostCidrs } from "./firewall.js";

/** etcd's metrics and /health, plain HTTP on loopback only (kubeadm's probe port). */
export const ETCD_METRICS_PORT = 2381;

/**
 * An etcd member of the external etcd: kubeadm's etcd flags (its etcd phase)
 * without the experimental ones, whose names differ between 3.4, 3.5 and 3.6.
 * mTLS on the client and the peer port, every member from the inventory.
 */
export function etcdPart(inv: Inventory, host: Host, opts: PlanOptions): Partial<Part> {
  const etcdCa = paths.caFile("etcd");
  const clientUrls = [etcdClientUrl(host), hostUrl("https", "127.0.0.1", ETCD_CLIENT_PORT)];
  const args = flags({
    name: host.name,
    "data-dir": paths.ETCD_DATA_DIR,
    "listen-client-urls": clientUrls,
    "advertise-client-urls": etcdClientUrl(host),
    "listen-peer-urls": etcdPeerUrl(host),
    "initial-advertise-peer-urls": etcdPeerUrl(host),
    "initial-cluster": etcdInitialCluster(inv),
    "initial-cluster-state": opts.etcd.initialClusterState,
    "initial-cluster-token": `hak-${inv.name}`,
    "listen-metrics-urls": `http://127.0.0.1:${ETCD_METRICS_PORT}`,
    "cert-file": paths.certFile("etcd-server"),
    "key-file": paths.keyFile("etcd-server"),
    "trusted-ca-file": etcdCa,
    "client-cert-auth": true,
    "peer-cert-file": paths.certFile("etcd-peer"),
    "peer-key-file": paths.keyFile("etcd-peer"),
    "peer-trusted-ca-file": etcdCa,
    "peer-client-cert-auth": true,
    "snapshot-count": 10000,
  });
  const members = hostsWithRole(inv, "etcd");
  const controlplanes = hostsWithRole(inv, "controlplane");
  return {
    services: [
      {
        name: "etcd",
        program: "etcd",
        description: `etcd member ${host.name}`,
        args,
        user: "etcd",
        group: "etcd",
        after: [],
        // Certificates are read again on every handshake; flags change only with a restart.
        reload: { kind: "restart" },
        readiness: { kind: "http", url: `http://127.0.0.1:${ETCD_METRICS_PORT}/health` },
      },
    ],
    users: [systemUser("etcd", { home: paths.ETCD_DATA_DIR })],
    groups: ["etcd"],
    directories: [{ path: paths.ETCD_DATA_DIR, mode: "0700", owner: "etcd", group: "etcd" }],
    firewall: {
      // Clients are the apiservers (and the etcd hosts' own health checks); peers the other members.
      tcp: [
        { port: ETCD_CLIENT_PORT, from: hostCidrs([...controlplanes, ...members]), why: "etcd clients: the apiservers" },
        { port: ETCD_PEER_PORT, from: hostCidrs(members), why: "etcd peers" },
      ],
      udp: [],
      protocols: [],
    },
  };
}
