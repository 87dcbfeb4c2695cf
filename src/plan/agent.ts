import type { AgentConfigInput } from "../agent/config.js";
import { InputError } from "../common/errors.js";
import type { Host, Inventory } from "../common/inventory.js";
import { approleRoleId, authRoleName, KV_MOUNT, SERVICE_ACCOUNT_SECRET, type CaName } from "../common/names.js";
import { PROFILES, profilesForRole, requestSpec, type ProfileName } from "../common/profiles.js";
import type { PlanOptions } from "./options.js";
import * as paths from "./paths.js";
import { apiServerUrlFor, hostUrl } from "./topology.js";

/**
 * The agent's config for a host (the `agent` of its plan): one certificate
 * output per profile its role holds, a kubeconfig beside every client
 * identity a component uses as one, the service-account pair on control
 * planes. Each output names the units that read it and what to do to them
 * after a change. Every certificate output writes its issuing CA (the first
 * of each CA the shared bundle, the others their own copy), so every
 * kubeconfig has a CA to embed.
 */

type Output = AgentConfigInput["outputs"][number];
type Action = NonNullable<Output["actions"]>[number];

const restart = (unit: string): Action => ({ type: "restart", unit: `${unit}.service` });
const signal = (unit: string, sig: string): Action => ({ type: "signal", unit: `${unit}.service`, signal: sig });

/** Who reads a profile's files on a host, and what a change makes them do. */
interface Consumer {
  owner: string;
  group: string;
  /** Actions after the certificate changed (for a kubeconfig-backed identity: after the kubeconfig changed). */
  actions: Action[];
  /** Also write a kubeconfig embedding it, for this server. */
  kubeconfig?: "local" | "api";
}

function consumerOf(profile: ProfileName): Consumer {
  const root = { owner: "root", group: "root" };
  const kube = { owner: "kubernetes", group: "kubernetes" };
  switch (profile) {
    // etcd reads its certificate files again for every new TLS handshake: a
    // renewal needs no restart (open connections finish on the old pair).
    case "etcd-server":
    case "etcd-peer":
      return { owner: "etcd", group: "etcd", actions: [] };
    // For `hak-deploy check` (etcdctl endpoint status --cluster), as root.
    case "etcd-healthcheck-client":
      return { ...root, actions: [] };
    // The apiserver picks up every one of its certificates by itself, so a
    // renewal restarts nothing: the serving pair and the front-proxy client
    // pair are watched files (dynamiccertificates); the etcd client pair is
    // read for every new connection (etcd's transport.TLSInfo) and etcd
    // checks a client certificate only at the handshake, so open gRPC
    // connections carry on; the kubelet client pair is read for every new
    // connection (client-go ReloadTLSFiles, at most a second old), and exec,
    // attach and port-forward dial one each.
    case "apiserver":
    case "apiserver-etcd-client":
    case "front-proxy-client":
      return { ...kube, actions: [] };
    // client-go closes every kubelet connection of the apiserver, the one in
    // its handshake included, when it meets the renewed pair: the agent makes
    // those first handshakes itself (actions.ts, httpGetBurst), so no exec
    // or logs call of a user's is the one cut.
    case "apiserver-kubelet-client":
      return { ...kube, actions: [] };
    // The Kubernetes clients reach the API with a kubeconfig whose user is
    // the agent's credential plugin (credential: "exec"): client-go asks it
    // again at each certificate's late point and moves its connections to
    // the new pair, so a renewal restarts none of them. The file changes only
    // with the CA or the server, and then its reader is restarted.
    case "controller-manager":
      return { ...kube, actions: [restart("kube-controller-manager")], kubeconfig: "local" };
    case "scheduler":
      return { ...kube, actions: [restart("kube-scheduler")], kubeconfig: "local" };
    case "kubelet":
      return { ...root, actions: [restart("kubelet")], kubeconfig: "api" };
    // The kubelet reloads its serving pair from the files when they change
    // (ReloadKubeletServerCertificateFile, beta and on since 1.31).
    case "kubelet-serving":
      return { ...root, actions: [] };
    case "kube-proxy":
      return { ...root, actions: [restart("kube-proxy")], kubeconfig: "api" };
    // CoreDNS reloads on SIGUSR1 (its kubernetes plugin reconnects with the
    // new kubeconfig) without dropping the listening sockets.
    case "coredns":
      return { owner: "coredns", group: "coredns", actions: [signal("coredns", "SIGUSR1")], kubeconfig: "api" };
    case "host-identity":
      return { ...root, actions: [] };
    case "admin":
    case "super-admin":
      throw new Error(`profile ${profile} is never held by a host`);
  }
}

/**
 * After a renewal of the apiserver's kubelet client pair: GETs through this
 * host's apiserver to its own kubelet (node proxy /healthz) with that pair
 * (kubeadm:cluster-admins), every 20 ms for 1.5 s — longer than client-go's
 * one-second cache of the pair — so the apiserver meets the new pair on the
 * agent's connections.
 */
function kubeletConnectionsKick(inv: Inventory, host: Host): Action {
  return {
    type: "http-get",
    url: `${hostUrl("https", host.address, inv.apiPort)}/api/v1/nodes/${host.name}/proxy/healthz`,
    certFile: paths.certFile("apiserver-kubelet-client"),
    keyFile: paths.keyFile("apiserver-kubelet-client"),
    caFile: paths.caFile("kubernetes"),
    burst: 1.5,
    // An upgrade request: the apiserver dials the kubelet anew for each (a plain GET would reuse a pooled connection).
    upgrade: true,
    timeout: 10,
  };
}

/** Vault addresses: the options', else the inventory's; a plan cannot do without. */
export function vaultAddresses(inv: Inventory, opts: PlanOptions): string[] {
  const addrs = opts.vault.addresses ?? inv.vault?.addresses;
  if (!addrs || addrs.length === 0)
    throw new InputError("no Vault address: the agent cannot log in", { where: "inventory.vault.addresses", fix: "add vault: { addresses: [https://...:8200] } to the inventory" });
  return addrs;
}

/** The profiles a host holds, in the profile table's order (host identity last). */
export function hostProfiles(host: Host): ProfileName[] {
  return profilesForRole(host.role).map((p) => p.name);
}

export function agentConfig(inv: Inventory, host: Host, opts: PlanOptions): AgentConfigInput {
  const caWritten = new Set<CaName>();
  const outputs: Output[] = [];
  const ttl = opts.agent.ttl === undefined ? {} : { ttl: opts.agent.ttl };
  for (const profile of hostProfiles(host)) {
    const p = PROFILES[profile];
    const spec = requestSpec(inv, profile, p.perHost ? host : undefined);
    const who = consumerOf(profile);
    const caFile = caWritten.has(p.ca) ? paths.ownCaFile(profile) : paths.caFile(p.ca);
    caWritten.add(p.ca);
    outputs.push({
      type: "certificate",
      name: profile,
      profile,
      commonName: spec.commonName,
      dns: spec.dns,
      ip: spec.ip,
      keyType: "ec",
      ...ttl,
      certFile: paths.certFile(profile),
      keyFile: paths.keyFile(profile),
      caFile,
      owner: who.owner,
      group: who.group,
      mode: "0600",
      // With a kubeconfig, the component reads the kubeconfig, not these files.
      actions: who.kubeconfig ? [] : profile === "apiserver-kubelet-client" ? [kubeletConnectionsKick(inv, host)] : who.actions,
    });
    if (who.kubeconfig) {
      outputs.push({
        type: "kubeconfig",
        name: `${profile}-kubeconfig`,
        certificate: profile,
        server: apiServerUrlFor(inv, host, who.kubeconfig),
        clusterName: inv.name,
        credential: "exec",
        path: paths.kubeconfigFile(profile),
        owner: who.owner,
        group: who.group,
        mode: "0600",
        actions: who.actions,
      });
    }
  }
  if (host.role === "controlplane") {
    // Shared by every control-plane host (KV hak-kv/service-account); read at start.
    outputs.push({
      type: "secret",
      name: "service-account-key",
      mount: KV_MOUNT,
      secret: SERVICE_ACCOUNT_SECRET,
      field: "key",
      path: paths.SERVICE_ACCOUNT_KEY_FILE,
      owner: "kubernetes",
      group: "kubernetes",
      mode: "0600",
      actions: [restart("kube-apiserver"), restart("kube-controller-manager")],
    });
    outputs.push({
      type: "secret",
      name: "service-account-pub",
      mount: KV_MOUNT,
      secret: SERVICE_ACCOUNT_SECRET,
      field: "pub",
      path: paths.SERVICE_ACCOUNT_PUB_FILE,
      owner: "kubernetes",
      group: "kubernetes",
      mode: "0644",
      actions: [restart("kube-apiserver")],
    });
  }
  return {
    host: host.name,
    vault: {
      addresses: vaultAddresses(inv, opts),
      ...(opts.vault.caFile ? { caFile: opts.vault.caFile } : {}),
      // Secret IDs and tokens are bound to the host's address.
      sourceAddress: host.address,
    },
    auth: {
      roleId: approleRoleId(inv.name, host.name),
      secretIdFile: paths.SECRET_ID_FILE,
      certRole: authRoleName(host.name),
      identityOutput: "host-identity",
    },
    listen: opts.agent.listen,
    ...(opts.agent.lateWebhook ? { lateWebhook: opts.agent.lateWebhook } : {}),
    outputs,
  };
}
