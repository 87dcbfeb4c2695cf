import type { Host, Inventory } from "../common/inventory.js";
import { isIP } from "node:net";
import { HakError } from "../common/errors.js";
import { hostCidrs } from "./firewall.js";
import { hostsWithRole } from "../common/inventory.js";
import type { PlanOptions } from "./options.js";
import { systemUser, type Part } from "./part.js";
import * as paths from "./paths.js";
import { apiserverBackends, keepalivedPeers } from "./topology.js";

export const HAPROXY_CONFIG_FILE = paths.configFile("haproxy", "haproxy.cfg");
export const HAPROXY_PID_FILE = `${paths.HAPROXY_STATE_DIR}/haproxy.pid`;
/** haproxy's own liveness (monitor-uri), loopback only. */
export const HAPROXY_MONITOR_PORT = 8404;
export const KEEPALIVED_CONFIG_FILE = paths.configFile("keepalived", "keepalived.conf");
export const KEEPALIVED_CHECK_SCRIPT = paths.configFile("keepalived", "check-haproxy");
/** The unprivileged user keepalived runs its track script as (script_user). */
export const KEEPALIVED_SCRIPT_USER = "hak-keepalived-script";

const bracket = (a: string) => (isIP(a) === 6 ? `[${a}]` : a);

/**
 * haproxy.cfg: TCP passthrough of the API (clients verify the apiserver
 * certificate end to end) to every control-plane host, each health-checked
 * on /readyz over TLS.
 */
export function haproxyConfig(inv: Inventory): string {
  const servers = apiserverBackends(inv).map((b) => `  server ${b.name} ${bracket(b.address)}:${b.port} check check-ssl verify none`);
  return [
    "# haproxy in front of the apiservers. Written by hak from the host plan.",
    "global",
    "  log stdout format raw local0",
    "",
    "defaults",
    "  mode tcp",
    "  log global",
    "  option tcplog",
    "  option dontlognull",
    // 1 s, not kubeadm's 5 s: a connection to a dead or cut-off host is never
    // refused, only unanswered, and the apiservers are on the same network
    // (the kernel answers a SYN at once, however loaded the apiserver). With
    // retries and redispatch the client's call goes to another apiserver
    // after 1 s instead of 5 s, inside a kubectl's or a 2 s probe's patience,
    // and (observe layer4) the server is marked down on that first timeout.
    "  timeout connect 1s",
    // Watches stay open for a long time; the apiserver ends them itself.
    "  timeout client 1h",
    "  timeout server 1h",
    "  timeout client-fin 30s",
    "  timeout tunnel 1h",
    "",
    "frontend monitor",
    "  mode http",
    `  bind 127.0.0.1:${HAPROXY_MONITOR_PORT}`,
    "  monitor-uri /healthz",
    "  timeout client 10s",
    "",
    "frontend kube-apiserver",
    // The virtual IP only: a backup load balancer binds it before keepalived
    // moves it there (net.ipv4.ip_nonlocal_bind).
    `  bind ${bracket(inv.apiVip)}:${inv.apiPort}`,
    "  default_backend kube-apiservers",
    "",
    "backend kube-apiservers",
    "  balance roundrobin",
    // A connection refused by a dead apiserver is retried on another one at
    // once (redispatch on every retry, no turn-around delay when the server
    // changes), instead of three times on the same one and then failing the
    // client: without it every third new connection failed for the 2-6 s the
    // health check needs to mark the server down (test/ha/lb.test.ts).
    "  retries 3",
    "  option redispatch 1",
    // The check asks only whether an apiserver is ready; it carries no
    // credential, so it does not verify the serving certificate (load
    // balancers hold no Kubernetes CA). Clients verify it end to end.
    "  option httpchk GET /readyz",
    "  http-check expect status 200",
    // inter 2s fall 3 rise 2 are haproxy's defaults (kubeadm's example). A
    // connection the server refuses also marks it down at once (observe
    // layer4, error-limit 1, on-error mark-down): a killed apiserver that its
    // supervisor restarts within the 6 s fall 3 x inter 2s takes would
    // otherwise get clients again while still starting, before its RBAC
    // caches are filled, and answer them 403 (the cluster rows of
    // test/cluster/ha-cluster.test.ts saw 5 of 33 calls fail so). Marked
    // down, it gets traffic again only after rise 2 passing /readyz checks.
    "  default-server inter 2s fall 3 rise 2 observe layer4 error-limit 1 on-error mark-down on-marked-down shutdown-sessions",
    ...servers,
    "",
  ].join("\n");
}

/**
 * Exits 0 while this host's haproxy runs: the master whose PID its pid file
 * holds is alive and not a zombie. Not "any haproxy in /proc": where hosts
 * share a PID namespace (the local cluster runs every load balancer on one
 * machine) that finds the other host's and never lets the VIP go. Shell
 * builtins only; the pid file and /proc/<pid>/stat are readable by any user.
 */
export const CHECK_HAPROXY_SCRIPT = [
  "#!/bin/sh",
  "# keepalived's track script: the virtual IP belongs where this host's haproxy runs.",
  `read -r pid 2>/dev/null < ${HAPROXY_PID_FILE} || exit 1`,
  'case "$pid" in "" | *[!0-9]*) exit 1 ;; esac',
  '# /proc/<pid>/stat is "pid (comm) state ...": a zombie (Z) is dead.',
  'read -r _ comm state _ 2>/dev/null < "/proc/$pid/stat" || exit 1',
  '[ "$comm" = "(haproxy)" ] && [ "$state" != Z ]',
  "",
].join("\n");

/**
 * keepalived.conf: one VRRP instance holding the API virtual IP, MASTER on
 * the first load balancer, priorities falling in inventory order; unicast to
 * the other load balancers; haproxy tracked by a script run as an
 * unprivileged user the plan creates.
 */
export function keepalivedConfig(inv: Inventory, host: Host, opts: PlanOptions): string {
  const peers = keepalivedPeers(inv);
  const self = peers.find((p) => p.name === host.name);
  if (!self) throw new HakError(`${host.name} is not a load balancer`);
  const others = peers.filter((p) => p.name !== host.name);
  const lb = opts.loadbalancer;
  const vipPrefix = isIP(inv.apiVip) === 6 ? 128 : 32;
  return [
    "# keepalived on the load balancers: the API virtual IP. Written by hak from the host plan.",
    "global_defs {",
    `  router_id ${host.name}`,
    "  enable_script_security",
    `  script_user ${KEEPALIVED_SCRIPT_USER}`,
    "}",
    "",
    "vrrp_script haproxy {",
    `  script "${KEEPALIVED_CHECK_SCRIPT}"`,
    // keepalived's default interval (1 s); the script only reads /proc. With
    // fall 2 a dead haproxy gives up the VIP within 2 s (it was 4 s at
    // interval 2; kubeadm's example, interval 3 fall 10, takes 30 s).
    "  interval 1",
    "  fall 2",
    "  rise 2",
    "}",
    "",
    "vrrp_instance kube-apiserver {",
    `  state ${self.state}`,
    `  interface ${lb.interface}`,
    `  virtual_router_id ${lb.virtualRouterId}`,
    `  priority ${self.priority}`,
    "  advert_int 1",
    ...(lb.unicast ? [`  unicast_src_ip ${host.address}`, "  unicast_peer {", ...others.map((p) => `    ${p.address}`), "  }"] : []),
    "  virtual_ipaddress {",
    `    ${inv.apiVip}/${vipPrefix}`,
    "  }",
    "  track_script {",
    "    haproxy",
    "  }",
    // The authentication block lives outside the plan (a secret): included where the operator put it.
    ...(lb.authFile ? [`  include ${lb.authFile}`] : []),
    "}",
    "",
  ].join("\n");
}

export function loadbalancerPart(inv: Inventory, host: Host, opts: PlanOptions): Part {
  const others = hostsWithRole(inv, "loadbalancer").filter((h) => h.name !== host.name);
  return {
    services: [
      {
        name: "haproxy",
        program: "haproxy",
        description: "haproxy: TCP to the apiservers",
        args: ["-Ws", "-f", HAPROXY_CONFIG_FILE, "-p", HAPROXY_PID_FILE],
        user: "haproxy",
        group: "haproxy",
        after: [],
        // Master-worker mode: SIGUSR2 loads the new config, open connections stay.
        reload: { kind: "signal", signal: "SIGUSR2" },
        readiness: { kind: "http", url: `http://127.0.0.1:${HAPROXY_MONITOR_PORT}/healthz` },
      },
      {
        name: "keepalived",
        program: "keepalived",
        description: "keepalived: VRRP for the API virtual IP",
        // Its own pid files, so several load balancers can share one file system (the local cluster).
        args: ["--dont-fork", "--log-console", "--vrrp", "-f", KEEPALIVED_CONFIG_FILE, "-p", `${paths.KEEPALIVED_STATE_DIR}/keepalived.pid`, "-r", `${paths.KEEPALIVED_STATE_DIR}/vrrp.pid`],
        after: ["haproxy"],
        reload: { kind: "signal", signal: "SIGHUP" },
      },
    ],
    files: [
      { path: HAPROXY_CONFIG_FILE, content: haproxyConfig(inv), mode: "0644", usedBy: ["haproxy"] },
      { path: KEEPALIVED_CONFIG_FILE, content: keepalivedConfig(inv, host, opts), mode: "0644", usedBy: ["keepalived"] },
      // enable_script_security: root-owned, not writable by anyone else.
      { path: KEEPALIVED_CHECK_SCRIPT, content: CHECK_HAPROXY_SCRIPT, mode: "0755", owner: "root", group: "root", usedBy: ["keepalived"] },
    ],
    directories: [
      { path: paths.HAPROXY_STATE_DIR, mode: "0755", owner: "haproxy", group: "haproxy" },
      { path: paths.KEEPALIVED_STATE_DIR, mode: "0755" },
    ],
    users: [systemUser("haproxy"), systemUser(KEEPALIVED_SCRIPT_USER)],
    groups: ["haproxy", KEEPALIVED_SCRIPT_USER],
    firewall: {
      tcp: [{ port: inv.apiPort, why: "the API virtual IP (haproxy)" }],
      udp: [],
      // VRRP is IP protocol 112, not a port: from the other load balancers only.
      protocols: others.length > 0 ? [{ protocol: "vrrp", from: hostCidrs(others), why: "VRRP adverts of the other load balancers" }] : [],
    },
    routes: [],
    // haproxy binds the virtual IP also where keepalived has not (yet) put it.
    sysctl: { "net.ipv4.ip_nonlocal_bind": 1, "net.ipv6.ip_nonlocal_bind": 1 },
  };
}
