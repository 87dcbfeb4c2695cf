import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { agentConfigSchema } from "../../src/agent/config.js";
import { InputError } from "../../src/common/errors.js";
import { loadInventory, parseInventory, type Inventory } from "../../src/common/inventory.js";
import { ipv6Inventory } from "../helpers/inventory.js";
import { cidrContains, cidrsOverlap, parseCidr } from "../../src/common/ip.js";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import { PROFILES, profilesForRole, requestSpec } from "../../src/common/profiles.js";
import { allHostPlans, clusterPlan, hostPlan, hostPlanSchema, relocatePlan, type HostPlan } from "../../src/plan/index.js";
import { nodePodCidrs } from "../../src/plan/topology.js";
import { seededRandom } from "../helpers/random.js";

const demo = loadInventory(join(PROJECT_ROOT, "examples", "demo-cluster.yaml"));
const plans = allHostPlans(demo);
const byName = (n: string) => plans.find((p) => p.host.name === n)!;

/** `--name=value` flags of a service as a map. */
function argMap(p: HostPlan, service: string): Map<string, string> {
  const s = p.services.find((x) => x.name === service);
  if (!s) throw new Error(`${p.host.name} runs no ${service}`);
  return new Map(s.args.filter((a) => a.startsWith("--")).map((a) => [a.slice(2).split("=")[0]!, a.slice(a.indexOf("=") + 1)]));
}

/** Every string in a value, with where it is. */
function strings(v: unknown, where = ""): [string, string][] {
  if (typeof v === "string") return [[where, v]];
  if (Array.isArray(v)) return v.flatMap((x, i) => strings(x, `${where}[${i}]`));
  if (v && typeof v === "object") return Object.entries(v).flatMap(([k, x]) => strings(x, `${where}.${k}`));
  return [];
}

/** Absolute paths inside a string: whole values, flag values, words in config files. */
function absolutePaths(s: string): string[] {
  return [...s.matchAll(/(?:^|[=\s"',]|unix:\/\/)(\/(?:etc|var|run|opt|usr|srv|home|tmp)\/[^\s"',;}]*)/g)].map((m) => m[1]!);
}

describe("certificates", () => {
  it.each(demo.hosts.map((h) => [h.name, h.role]))("%s (%s) holds exactly its role's profiles with the table's names and SANs", (name) => {
    const p = byName(name);
    const host = demo.hosts.find((h) => h.name === name)!;
    expect(p.certificates.map((c) => c.profile)).toEqual(profilesForRole(host.role).map((x) => x.name));
    for (const c of p.certificates) {
      const spec = requestSpec(demo, c.profile, host);
      expect(c.commonName).toBe(spec.commonName);
      expect(c.dnsSans).toEqual(spec.dns);
      expect(c.ipSans).toEqual(spec.ip);
      expect(c.ca).toBe(PROFILES[c.profile].ca);
    }
    // Never the operator's identities on a host.
    expect(p.certificates.map((c) => c.profile)).not.toContain("admin");
    expect(p.certificates.map((c) => c.profile)).not.toContain("super-admin");
  });

  it("names what a consumer supplies: the agent config file, CNI plugins and images on nodes; a traversable agent folder", () => {
    expect(byName("worker1").agentConfigFile).toBe("/etc/hak/agent.json");
    expect(byName("worker1").cniPlugins).toEqual(["bridge", "host-local", "loopback", "portmap"]);
    expect(byName("controlplane1").images).toEqual(["registry.k8s.io/pause:3.10"]);
    expect([byName("etcd1").cniPlugins, byName("etcd1").images]).toEqual([[], []]);
    // Non-root consumers (etcd, kubernetes, coredns) pass through the agent's folder to their own files.
    expect(byName("etcd1").directories.find((d) => d.path === "/var/lib/hak-agent")?.mode).toBe("0711");
  });

  it("control planes are nodes: kubelet client (system:node:<name>, O=system:nodes), serving and kube-proxy", () => {
    const cp = byName("controlplane2");
    const kubelet = cp.certificates.find((c) => c.profile === "kubelet")!;
    expect(kubelet.commonName).toBe("system:node:controlplane2");
    expect(kubelet.organizations).toEqual(["system:nodes"]);
    expect(cp.certificates.find((c) => c.profile === "kubelet-serving")!.ipSans).toEqual(["10.240.0.22"]);
    expect(cp.certificates.map((c) => c.profile)).toContain("kube-proxy");
    expect(cp.host.node).toBe(true);
    expect(byName("etcd1").host.node).toBe(false);
  });
});

describe("the agent config", () => {
  it.each(demo.hosts.map((h) => [h.name]))("%s: parses with the agent's own schema; every kubeconfig's certificate has a CA to embed", (name) => {
    const p = byName(name);
    const cfg = agentConfigSchema.parse(p.agent);
    expect(cfg.host).toBe(name);
    expect(cfg.vault.sourceAddress).toBe(p.host.address);
    expect(cfg.vault.addresses).toEqual(demo.vault!.addresses);
    const certs = new Map(cfg.outputs.flatMap((o) => (o.type === "certificate" ? [[o.name, o]] : [])));
    for (const o of cfg.outputs) {
      if (o.type !== "kubeconfig") continue;
      const c = certs.get(o.certificate);
      expect(c, o.name).toBeDefined();
      expect(c!.caFile ?? c!.chainFile, `${o.name} embeds ${o.certificate}'s CA`).toBeDefined();
    }
    // Each plan certificate is one agent output with the same request.
    for (const c of p.certificates) {
      const o = certs.get(c.profile)!;
      expect([o.commonName, o.dns, o.ip, o.certFile, o.keyFile]).toEqual([c.commonName, c.dnsSans, c.ipSans, c.certFile, c.keyFile]);
    }
  });

  it("control plane: kubeconfigs for controller-manager and scheduler to the local apiserver, kubelet and kube-proxy too; the service-account pair", () => {
    const cfg = agentConfigSchema.parse(byName("controlplane1").agent);
    const kc = Object.fromEntries(cfg.outputs.flatMap((o) => (o.type === "kubeconfig" ? [[o.certificate, o.server]] : [])));
    expect(kc).toEqual({
      "controller-manager": "https://10.240.0.21:6443",
      scheduler: "https://10.240.0.21:6443",
      kubelet: "https://10.240.0.21:6443",
      "kube-proxy": "https://10.240.0.21:6443",
    });
    expect(cfg.outputs.filter((o) => o.type === "secret").map((o) => o.name)).toEqual(["service-account-key", "service-account-pub"]);
    // The apiserver picks up every certificate of its own: renewals restart nothing.
    for (const name of ["apiserver", "apiserver-etcd-client", "front-proxy-client", "kubelet-serving", "etcd-server", "etcd-peer"])
      expect(cfg.outputs.find((o) => o.name === name)?.actions ?? "absent", name).toEqual(name.startsWith("etcd") ? "absent" : []);
    // Its kubelet client pair: the agent makes the apiserver's first kubelet handshakes after a renewal itself.
    expect(cfg.outputs.find((o) => o.name === "apiserver-kubelet-client")!.actions).toEqual([
      expect.objectContaining({ type: "http-get", url: "https://10.240.0.21:6443/api/v1/nodes/controlplane1/proxy/healthz", burst: 1.5, upgrade: true }),
    ]);
    // The clients authenticate through the agent's credential plugin: the kubeconfig holds no key, so it changes
    // (and restarts its reader) only with the CA or the server.
    for (const o of cfg.outputs) if (o.type === "kubeconfig") expect(o.credential, o.name).toBe("exec");
    expect(cfg.outputs.find((o) => o.name === "kubelet-kubeconfig")!.actions).toEqual([{ type: "restart", unit: "kubelet.service", timeout: 30 }]);
    expect(cfg.outputs.find((o) => o.name === "kubelet")!.actions).toEqual([]);
  });

  it("worker: kubelet, kube-proxy and coredns reach the API through the virtual IP; coredns reloads by SIGUSR1", () => {
    const cfg = agentConfigSchema.parse(byName("worker1").agent);
    const kc = cfg.outputs.filter((o) => o.type === "kubeconfig");
    expect(kc.map((o) => [o.name, o.type === "kubeconfig" && o.server])).toEqual([
      ["kubelet-kubeconfig", "https://10.240.0.10:6443"],
      ["kube-proxy-kubeconfig", "https://10.240.0.10:6443"],
      ["coredns-kubeconfig", "https://10.240.0.10:6443"],
    ]);
    expect(kc.find((o) => o.name === "coredns-kubeconfig")!.actions).toEqual([{ type: "signal", unit: "coredns.service", signal: "SIGUSR1", timeout: 30 }]);
  });

  it("every path a service argument names under the agent's folder is written by an agent output", () => {
    for (const p of plans) {
      const cfg = agentConfigSchema.parse(p.agent);
      const written = new Set(cfg.outputs.flatMap((o) => (o.type === "certificate" ? [o.certFile, o.keyFile, o.caFile, o.chainFile, o.bundleFile] : [o.path])).filter(Boolean));
      const named = [...p.services.flatMap((s) => s.args), ...p.files.map((f) => f.content)].flatMap(absolutePaths).filter((x) => x.startsWith("/var/lib/hak-agent/"));
      expect(named.length, p.host.name).toBeGreaterThan(p.host.role === "loadbalancer" ? -1 : 0);
      for (const path of named) expect(written.has(path), `${p.host.name}: ${path}`).toBe(true);
    }
  });

  it("each service names the agent outputs whose files it reads (a consumer starts it once they are written)", () => {
    const needs = (host: string, svc: string) => byName(host).services.find((s) => s.name === svc)!.needs;
    expect(needs("controlplane1", "kube-apiserver")).toEqual(["apiserver-etcd-client", "apiserver", "apiserver-kubelet-client", "front-proxy-client", "service-account-key", "service-account-pub"]);
    expect(needs("controlplane1", "kube-scheduler")).toEqual(["scheduler-kubeconfig"]);
    expect(needs("worker1", "kubelet")).toEqual(["kubelet", "kubelet-kubeconfig", "kubelet-serving"]);
    expect(needs("worker1", "coredns")).toEqual(["coredns-kubeconfig"]);
    expect(needs("etcd2", "etcd")).toEqual(["etcd-server", "etcd-peer"]);
    expect(needs("loadbalancer1", "haproxy")).toEqual([]);
    // Every name is an output of the host's agent config.
    for (const p of plans) {
      const names = new Set(p.agent.outputs.map((o) => o.name));
      for (const s of p.services) for (const n of s.needs) expect(names.has(n), `${p.host.name} ${s.name} ${n}`).toBe(true);
    }
  });

  it("without a Vault address anywhere the plan is refused, naming the field", () => {
    const { vault: _v, ...noVault } = demo;
    expect(() => hostPlan(noVault as Inventory, "etcd1")).toThrow(InputError);
    expect(() => hostPlan(noVault as Inventory, "etcd1")).toThrow(/no Vault address/);
    try {
      hostPlan(noVault as Inventory, "etcd1");
    } catch (err) {
      expect((err as InputError).where).toBe("inventory.vault.addresses");
    }
    // An explicit option serves as well.
    expect(hostPlan(noVault as Inventory, "etcd1", { vault: { addresses: ["https://vault.example:8200"] } }).agent.vault.addresses).toEqual(["https://vault.example:8200"]);
  });
});

describe("services, as kubeadm sets them", () => {
  it("etcd: mTLS on both ports, every member in the initial cluster", () => {
    const a = argMap(byName("etcd2"), "etcd");
    expect(a.get("name")).toBe("etcd2");
    expect(a.get("initial-cluster")).toBe("etcd1=https://10.240.0.11:2380,etcd2=https://10.240.0.12:2380,etcd3=https://10.240.0.13:2380");
    expect(a.get("client-cert-auth")).toBe("true");
    expect(a.get("peer-client-cert-auth")).toBe("true");
    expect(a.get("advertise-client-urls")).toBe("https://10.240.0.12:2379");
    expect(a.get("listen-client-urls")).toBe("https://10.240.0.12:2379,https://127.0.0.1:2379");
    expect(a.get("cert-file")).toBe("/var/lib/hak-agent/certs/etcd-server.crt");
    expect(a.get("peer-cert-file")).toBe("/var/lib/hak-agent/certs/etcd-peer.crt");
    expect(a.get("trusted-ca-file")).toBe("/var/lib/hak-agent/certs/etcd-ca.crt");
  });

  it("kube-apiserver: every flag kubeadm sets for external etcd, plus enable-aggregator-routing and kubelet-certificate-authority", () => {
    const a = argMap(byName("controlplane3"), "kube-apiserver");
    // kubeadm's getAPIServerCommand, minus enable-bootstrap-token-auth (no bootstrap tokens: the agent issues node certificates).
    for (const flag of [
      "advertise-address",
      "allow-privileged",
      "authorization-mode",
      "client-ca-file",
      "enable-admission-plugins",
      "etcd-cafile",
      "etcd-certfile",
      "etcd-keyfile",
      "etcd-servers",
      "kubelet-client-certificate",
      "kubelet-client-key",
      "kubelet-preferred-address-types",
      "proxy-client-cert-file",
      "proxy-client-key-file",
      "requestheader-allowed-names",
      "requestheader-client-ca-file",
      "requestheader-extra-headers-prefix",
      "requestheader-group-headers",
      "requestheader-username-headers",
      "secure-port",
      "service-account-issuer",
      "service-account-key-file",
      "service-account-signing-key-file",
      "service-cluster-ip-range",
      "tls-cert-file",
      "tls-private-key-file",
    ])
      expect(a.has(flag), flag).toBe(true);
    expect(a.get("advertise-address")).toBe("10.240.0.23");
    expect(a.get("etcd-servers")).toBe("https://10.240.0.11:2379,https://10.240.0.12:2379,https://10.240.0.13:2379");
    expect(a.get("authorization-mode")).toBe("Node,RBAC");
    expect(a.get("enable-admission-plugins")).toBe("NodeRestriction");
    expect(a.get("enable-aggregator-routing")).toBe("true");
    expect(a.get("kubelet-certificate-authority")).toBe("/var/lib/hak-agent/certs/kubernetes-ca.crt");
    expect(a.get("requestheader-client-ca-file")).toBe("/var/lib/hak-agent/certs/front-proxy-ca.crt");
    expect(a.get("requestheader-allowed-names")).toBe("front-proxy-client");
    expect(a.get("service-account-issuer")).toBe("https://kubernetes.default.svc.cluster.local");
    expect(a.get("service-cluster-ip-range")).toBe("10.32.0.0/24");
  });

  it("controller-manager and scheduler: kubeconfigs, leader election, loopback bind; no CSR signer", () => {
    const cm = argMap(byName("controlplane1"), "kube-controller-manager");
    const kubeconfig = "/var/lib/hak-agent/kubeconfigs/controller-manager.conf";
    expect([cm.get("kubeconfig"), cm.get("authentication-kubeconfig"), cm.get("authorization-kubeconfig")]).toEqual([kubeconfig, kubeconfig, kubeconfig]);
    expect(cm.get("leader-elect")).toBe("true");
    expect(cm.get("bind-address")).toBe("127.0.0.1");
    expect(cm.get("root-ca-file")).toBe("/var/lib/hak-agent/certs/kubernetes-ca.crt");
    expect(cm.get("service-account-private-key-file")).toBe("/var/lib/hak-agent/certs/sa.key");
    expect(cm.get("cluster-cidr")).toBe("10.200.0.0/16");
    expect(cm.get("controllers")).toContain("-csrsigning");
    expect(cm.has("cluster-signing-cert-file")).toBe(false);
    const s = argMap(byName("controlplane1"), "kube-scheduler");
    expect(s.get("kubeconfig")).toBe("/var/lib/hak-agent/kubeconfigs/scheduler.conf");
    expect(s.get("leader-elect")).toBe("true");
  });

  it("nodes: kubelet with its KubeletConfiguration; control planes tainted NoSchedule, run no CoreDNS", () => {
    const names = (p: HostPlan) => p.services.map((s) => s.name);
    expect(names(byName("worker1"))).toEqual(["containerd", "kubelet", "kube-proxy", "coredns"]);
    expect(names(byName("controlplane1"))).toEqual(["kube-apiserver", "kube-controller-manager", "kube-scheduler", "containerd", "kubelet", "kube-proxy"]);
    const cfgOf = (p: HostPlan) => p.files.find((f) => f.path === "/etc/hak/kubelet/config.yaml")!.content;
    const w = cfgOf(byName("worker2"));
    expect(w).toContain("clientCAFile: /var/lib/hak-agent/certs/kubernetes-ca.crt");
    expect(w).toContain("tlsCertFile: /var/lib/hak-agent/certs/kubelet-serving.crt");
    expect(w).toMatch(/authorization:\n {2}mode: Webhook/);
    expect(w).toContain("containerRuntimeEndpoint: unix:///run/containerd/containerd.sock");
    expect(w).toMatch(/clusterDNS:\n {2}- 10\.240\.0\.32/);
    expect(w).not.toContain("registerWithTaints");
    expect(cfgOf(byName("controlplane1"))).toMatch(/registerWithTaints:\n {2}- key: node-role.kubernetes.io\/control-plane\n {4}effect: NoSchedule/);
    const kubelet = byName("worker2").services.find((s) => s.name === "kubelet")!;
    expect(kubelet.args.join(" ")).not.toContain("pod-infra-container-image");
    expect(argMap(byName("worker2"), "kubelet").get("hostname-override")).toBe("worker2");
  });

  it("CoreDNS: the kubernetes plugin with its kubeconfig, bound to the node address", () => {
    const core = byName("worker1").files.find((f) => f.path === "/etc/hak/coredns/Corefile")!.content;
    expect(core).toContain("bind 10.240.0.31");
    expect(core).toMatch(/kubernetes cluster\.local in-addr\.arpa ip6\.arpa \{\n\s+kubeconfig \/var\/lib\/hak-agent\/kubeconfigs\/coredns\.conf/);
    const svc = byName("worker1").services.find((s) => s.name === "coredns")!;
    expect(svc.reload).toEqual({ kind: "signal", signal: "SIGUSR1" });
    expect(svc.user).toBe("coredns");
    expect(byName("worker1").users.map((u) => u.name)).toContain("coredns");
  });

  it("load balancers: haproxy to every apiserver, keepalived MASTER first with falling priorities and a script user the plan creates", () => {
    const cfg = byName("loadbalancer1").files.find((f) => f.path === "/etc/hak/haproxy/haproxy.cfg")!.content;
    for (const [n, a] of [
      ["controlplane1", "10.240.0.21"],
      ["controlplane2", "10.240.0.22"],
      ["controlplane3", "10.240.0.23"],
    ])
      expect(cfg).toContain(`server ${n} ${a}:6443 check check-ssl verify none`);
    expect(cfg).toContain("option httpchk GET /readyz");
    expect(cfg).toContain("bind 10.240.0.10:6443");
    const ka = (n: string) => byName(n).files.find((f) => f.path === "/etc/hak/keepalived/keepalived.conf")!.content;
    expect(ka("loadbalancer1")).toMatch(/state MASTER\n.*\n.*\n {2}priority 200/);
    expect(ka("loadbalancer2")).toMatch(/state BACKUP\n.*\n.*\n {2}priority 190/);
    expect(ka("loadbalancer2")).toMatch(/unicast_peer \{\n {4}10\.240\.0\.41\n {2}\}/);
    expect(ka("loadbalancer1")).toContain("script_user hak-keepalived-script");
    expect(byName("loadbalancer1").users.map((u) => u.name)).toContain("hak-keepalived-script");
    expect(byName("loadbalancer1").firewall.protocols).toEqual([{ protocol: "vrrp", from: ["10.240.0.42/32"], why: expect.any(String) }]);
  });

  it("firewall: NodePorts on nodes; DNS only from cluster addresses; etcd clients only from control planes and members", () => {
    const w = byName("worker1").firewall;
    expect(w.tcp.find((r) => r.range)?.range).toEqual([30000, 32767]);
    const dns = w.udp.find((r) => r.port === 53)!;
    expect(dns.from).toContain("10.200.0.0/16");
    expect(dns.from).toContain("10.240.0.21/32");
    expect(dns.from).not.toContain("0.0.0.0/0");
    const etcd = byName("etcd1").firewall.tcp.find((r) => r.port === 2379)!;
    expect(etcd.from).toEqual(["10.240.0.21/32", "10.240.0.22/32", "10.240.0.23/32", "10.240.0.11/32", "10.240.0.12/32", "10.240.0.13/32"]);
  });
});

describe("pod subnets", () => {
  it("one per node (control planes and workers), unique, inside podCidr, and every other host routes it via that node", () => {
    const cidrs = nodePodCidrs(demo);
    expect([...cidrs.keys()]).toEqual(["controlplane1", "controlplane2", "controlplane3", "worker1", "worker2"]);
    const pod = parseCidr(demo.podCidr)!;
    const parsed = [...cidrs.values()].map((c) => parseCidr(c)!);
    for (const c of cidrs.values()) expect(cidrContains(pod, c.split("/")[0]!), c).toBe(true);
    for (let i = 0; i < parsed.length; i++) for (let j = i + 1; j < parsed.length; j++) expect(cidrsOverlap(parsed[i]!, parsed[j]!)).toBe(false);
    const conflist = byName("worker2").files.find((f) => f.path.endsWith(".conflist"))!.content;
    expect(JSON.parse(conflist).plugins[0].ipam.ranges).toEqual([[{ subnet: cidrs.get("worker2") }]]);
    for (const p of plans) {
      const want = [...cidrs].filter(([n]) => n !== p.host.name).map(([n, c]) => ({ node: n, destination: c, via: demo.hosts.find((h) => h.name === n)!.address }));
      expect(p.routes).toEqual(want);
    }
  });

  it("random inventories: subnets stay unique and inside podCidr; too many nodes for the CIDR is refused naming podCidr", () => {
    const rnd = seededRandom(8);
    for (let run = 0; run < 50; run++) {
      const prefix = 16 + Math.floor(rnd() * 8);
      const n = 1 + Math.floor(rnd() * 40);
      const inv = parseInventory({
        name: "r",
        hostDomain: "k8s.test",
        apiVip: "10.240.0.2",
        serviceCidr: "10.32.0.0/24",
        podCidr: `10.128.0.0/${prefix}`,
        hosts: [
          { name: "e1", role: "etcd", address: "10.240.1.1" },
          ...Array.from({ length: n }, (_, i) => ({ name: `n${i}`, role: i % 3 === 0 ? "controlplane" : "worker", address: `10.240.2.${i + 1}` })),
        ],
      });
      const capacity = 2 ** (24 - prefix);
      if (n > capacity) {
        expect(() => nodePodCidrs(inv)).toThrow(/podCidr|holds/);
        continue;
      }
      const values = [...nodePodCidrs(inv).values()];
      expect(new Set(values).size).toBe(n);
      const pod = parseCidr(inv.podCidr)!;
      for (const v of values) {
        expect(v.endsWith("/24")).toBe(true);
        expect(cidrContains(pod, v.split("/")[0]!)).toBe(true);
      }
    }
  });
});

describe("the plan as data", () => {
  it("round-trips through JSON and the plan schema unchanged, and is the same on every call", () => {
    for (const p of plans) {
      const back = hostPlanSchema.parse(JSON.parse(JSON.stringify(p)));
      expect(back).toEqual(p);
      expect(JSON.stringify(hostPlan(demo, p.host.name))).toBe(JSON.stringify(p));
    }
  });

  it("the schema refuses a broken plan, naming the field", () => {
    const p = JSON.parse(JSON.stringify(byName("worker1"))) as Record<string, unknown> & { agent: { outputs: unknown[] } };
    p.agent.outputs = [];
    const r = hostPlanSchema.safeParse(p);
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join("."))).toContain("agent.outputs");
  });

  it("every absolute path in a plan starts with one of its pathRoots", () => {
    for (const p of plans) {
      for (const [where, s] of strings({ ...p, pathRoots: [] })) {
        for (const path of absolutePaths(s)) expect(p.pathRoots.some((r) => path === r || path.startsWith(`${r}/`)), `${p.host.name}${where}: ${path}`).toBe(true);
      }
    }
  });

  it("relocated under a root, no path of the plan is left outside it", () => {
    const root = "/tmp/hosts/worker1";
    const moved = relocatePlan(byName("controlplane1"), root, { owner: 1000, group: 1000 });
    for (const [where, s] of strings({ ...moved, pathRoots: [] })) {
      for (const path of absolutePaths(s)) expect(path.startsWith(`${root}/`), `${where}: ${path}`).toBe(true);
    }
    expect(agentConfigSchema.safeParse(moved.agent).success).toBe(true);
    expect(moved.agent.outputs.every((o) => o.owner === 1000)).toBe(true);
  });
});

describe("options", () => {
  it("overrides lay over the inventory's plan section, field by field", () => {
    const inv = { ...demo, plan: { kubelet: { failCgroupV1: true, cgroupDriver: "cgroupfs" as const, extraConfig: {} } } };
    const p = hostPlan(inv, "worker1", { kubelet: { failCgroupV1: false }, containerd: { snapshotter: "native" } });
    const kubelet = p.files.find((f) => f.path === "/etc/hak/kubelet/config.yaml")!.content;
    expect(kubelet).toContain("failCgroupV1: false");
    expect(kubelet).toContain("cgroupDriver: cgroupfs");
    const containerd = p.files.find((f) => f.path === "/etc/hak/containerd/config.toml")!.content;
    expect(containerd).toContain('snapshotter = "native"');
    expect(containerd).toContain("SystemdCgroup = false");
    // Defaults: what a NixOS host gets.
    const d = byName("worker1").files.find((f) => f.path === "/etc/hak/kubelet/config.yaml")!.content;
    expect(d).toContain("failCgroupV1: true");
    expect(d).toContain("cgroupDriver: systemd");
  });

  it("a bad option is an input error naming it", () => {
    expect(() => hostPlan(demo, "worker1", { kubelet: { cgroupDriver: "bogus" as "systemd" } })).toThrow(/kubelet\.cgroupDriver/);
    expect(() => hostPlan(demo, "nobody")).toThrow(/no host "nobody"/);
  });
});

describe("clusterPlan", () => {
  it("binds kubeadm:cluster-admins to cluster-admin and gives system:coredns read access to what it serves", () => {
    const cp = clusterPlan(demo);
    const admins = cp.manifests.find((m) => m.kind === "ClusterRoleBinding" && m.metadata.name === "kubeadm:cluster-admins") as Record<string, unknown> | undefined;
    expect(admins?.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" });
    expect(admins?.subjects).toEqual([{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: PROFILES.admin.organization(undefined) }]);
    // The apiserver's kubelet client is in that group, so logs and exec are authorised.
    expect(PROFILES["apiserver-kubelet-client"].organization(undefined)).toBe("kubeadm:cluster-admins");
    const role = cp.manifests.find((m) => m.kind === "ClusterRole" && m.metadata.name === "system:coredns") as unknown as { rules: { resources: string[]; verbs: string[] }[] };
    expect(role.rules.flatMap((r) => r.resources)).toEqual(expect.arrayContaining(["services", "endpointslices", "namespaces", "pods"]));
    expect(role.rules.every((r) => r.verbs.every((v) => v === "list" || v === "watch"))).toBe(true);
    const binding = cp.manifests.find((m) => m.kind === "ClusterRoleBinding" && m.metadata.name === "system:coredns") as unknown as { subjects: unknown[] };
    expect(binding.subjects).toEqual([{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: PROFILES.coredns.commonName(undefined) }]);
    // kubeadm's role label on control planes, set by hak (NodeRestriction keeps kubelets from setting it).
    expect(cp.nodeLabels).toEqual(["controlplane1", "controlplane2", "controlplane3"].map((node) => ({ node, labels: { "node-role.kubernetes.io/control-plane": "" } })));
  });
});

describe("IPv6 inventories", () => {
  const inv6 = ipv6Inventory("fd00:240::", { hostDomain: "k8s.test", loadBalancers: 2 });

  it("brackets addresses in URLs, gives /64 pod subnets, a ::/0 pod route and a /128 virtual IP", () => {
    const ps = allHostPlans(inv6);
    for (const p of ps) expect(hostPlanSchema.safeParse(JSON.parse(JSON.stringify(p))).success).toBe(true);
    const cp = ps.find((p) => p.host.name === "cp1")!;
    expect(argMap(cp, "kube-apiserver").get("etcd-servers")).toBe("https://[fd00:240::11]:2379");
    expect(agentConfigSchema.parse(cp.agent).outputs.find((o) => o.name === "scheduler-kubeconfig")).toMatchObject({ server: "https://[fd00:240::21]:6443" });
    expect([...nodePodCidrs(inv6).values()]).toEqual(["fd00:200::/64", "fd00:200:0:1::/64"]);
    const w = ps.find((p) => p.host.name === "w1")!;
    expect(JSON.parse(w.files.find((f) => f.path.endsWith(".conflist"))!.content).plugins[0].ipam.routes).toEqual([{ dst: "::/0" }]);
    expect(agentConfigSchema.parse(w.agent).outputs.find((o) => o.name === "kubelet-kubeconfig")).toMatchObject({ server: "https://[fd00:240::10]:6443" });
    const lb = ps.find((p) => p.host.name === "lb1")!;
    expect(lb.files.find((f) => f.path.endsWith("keepalived.conf"))!.content).toContain("fd00:240::10/128");
    expect(lb.files.find((f) => f.path.endsWith("haproxy.cfg"))!.content).toContain("bind [fd00:240::10]:6443");
    expect(lb.files.find((f) => f.path.endsWith("haproxy.cfg"))!.content).toContain("server cp1 [fd00:240::21]:6443");
  });
});
