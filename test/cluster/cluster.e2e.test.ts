import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { binaryPath } from "../../src/common/binaries.js";
import { freePort } from "../../src/common/localbao.js";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import { applyClusterPlan, type ClusterReport } from "../../src/cluster/cluster.js";
import { cgroupHierarchies } from "../../src/cluster/netns.js";
import { kubectl, type Kubectl } from "../../src/deploy/kubectl.js";
import type { CheckReport } from "../../src/deploy/check.js";
import { loadInventory } from "../../src/common/inventory.js";
import { rotationUnderLoad } from "./rotation.js";
import { screenshot, withChromium } from "../helpers/chromium.js";

/**
 * The local cluster end to end, on the real binaries, brought up ONCE for
 * every test here (CI has 2 cores): `npm run demo`'s program in its own
 * state folder, ports, name prefix and subnet (10.244.0.0/24; HAK_E2E_NET
 * and HAK_E2E_PREFIX move them), so it runs beside a person's demo and the
 * HA lab (10.241.0.0/24). Then: hak-deploy check (the seed's check.sh),
 * pod to pod across the workers, a Service backed by a pod on the other
 * worker, the Node authorizer and NodeRestriction, the identities of
 * kube-proxy and CoreDNS, admin vs super-admin, rotation under load
 * (2-minute leaves for the whole run, 6 minutes of load: see rotation.ts),
 * and stop leaving nothing. HAK_ROTATION=0 runs it all on the inventory's
 * leaf lifetime and skips the rotation test (7 minutes shorter).
 */

const ROTATION = process.env.HAK_ROTATION !== "0";
const root = mkdtempSync(join(tmpdir(), "hak-cl-"));
const stateDir = join(root, "s");
const invFile = join(root, "inventory.yaml");
const PREFIX = process.env.HAK_E2E_PREFIX || "hakt";
/** The first three octets of the cluster's /24. */
const NET = process.env.HAK_E2E_NET || "10.244.0";
/** For `up` and `stop` alike. */
let flags: string[] = [];
/** For `up`: the same ports every run (a second run reuses the servers on them). */
let upFlags: string[] = [];
let report: ClusterReport;
let admin: Kubectl;
let superAdmin: Kubectl;
let kubectlBin: string;
let failed = false;
const iptablesBefore = rootIptables();

function rootIptables(): string {
  const r = spawnSync("iptables-save", [], { encoding: "utf8" });
  // Counters and comments with dates change by themselves; the rules are what matter.
  return (r.stdout ?? "").split("\n").filter((l) => !l.startsWith("#")).map((l) => l.replace(/\[\d+:\d+\]/g, "")).join("\n");
}

function demo(args: string[], timeoutMs = 900_000) {
  const r = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "hak-demo.js"), ...args], { encoding: "utf8", timeout: timeoutMs, cwd: PROJECT_ROOT });
  return { code: r.status, out: r.stdout ?? "", err: r.stderr ?? "" };
}

const hostFile = (host: string, path: string) => join(stateDir, "cluster", "hosts", host, path);
const kubeconfigOf = (host: string, profile: string) => hostFile(host, `var/lib/hak-agent/kubeconfigs/${profile}.conf`);

async function waitPod(k: Kubectl, ns: string, name: string, ms = 180_000): Promise<{ ip: string; node: string }> {
  const deadline = Date.now() + ms;
  let last = "";
  while (Date.now() < deadline) {
    const r = await k.run(["-n", ns, "get", "pod", name, "-o", "jsonpath={.status.phase} {.status.podIP} {.spec.nodeName}"]);
    const [phase, ip, node] = r.stdout.trim().split(" ");
    if (phase === "Running" && ip) return { ip, node: node ?? "" };
    last = r.stdout + r.stderr;
    await sleep(1000);
  }
  throw new Error(`pod ${ns}/${name} not Running: ${last}`);
}

function server(ns: string, name: string, node: string): string {
  return stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: ns, labels: { app: name } },
    spec: {
      nodeSelector: { "kubernetes.io/hostname": node },
      terminationGracePeriodSeconds: 1,
      containers: [{ name: "c", image: "hak.local/busybox:1.35", imagePullPolicy: "IfNotPresent", command: ["sh", "-c", `mkdir -p /w && echo "${name} on ${node}" > /w/index.html && exec httpd -f -p 8080 -h /w`] }],
    },
  });
}

describe.sequential("the local cluster (real binaries, one bring-up)", () => {
  beforeAll(async () => {
    const b = spawnSync("npm", ["run", "-s", "build"], { cwd: PROJECT_ROOT, encoding: "utf8" });
    expect(b.status, b.stderr + b.stdout).toBe(0);
    // The demo's topology on its own /24, so it never meets the demo's addresses.
    const doc = parse(readFileSync(join(PROJECT_ROOT, "examples", "demo-cluster.yaml"), "utf8")) as { apiVip: string; hosts: { address: string }[] };
    doc.apiVip = doc.apiVip.replace("10.240.0.", `${NET}.`);
    for (const h of doc.hosts) h.address = h.address.replace("10.240.0.", `${NET}.`);
    writeFileSync(invFile, stringify(doc));
    const bao = await freePort();
    flags = ["--state-dir", stateDir, "-i", invFile, "--prefix", PREFIX];
    upFlags = ["--bao-port", String(bao), "--serve", `127.0.0.1:${await freePort()}`, "--interval", "5s", ...flags];
    const up = demo(["up", "--json", ...(ROTATION ? ["--ttl", "2m"] : []), ...upFlags]);
    expect(up.code, up.err.slice(-4000)).toBe(0);
    report = JSON.parse(up.out) as ClusterReport;
    console.log(`local cluster bring-up: ${report.seconds.toFixed(1)}s`);
    kubectlBin = binaryPath("kubectl");
    admin = kubectl(kubectlBin, report.adminKubeconfig);
    superAdmin = kubectl(kubectlBin, join(stateDir, "cluster", "super-admin.conf"));
  }, 1_000_000);

  beforeEach(() => {
    // With 2-minute leaves the operator's kubeconfigs expire between tests; a run of `up` renews them (and reuses the rest).
    if (ROTATION && report) expect(demo(["up", "--json", ...upFlags], 300_000).code).toBe(0);
  }, 400_000);

  afterEach((ctx) => {
    if (ctx.task.result?.state === "fail") failed = true;
  });

  afterAll(() => {
    // Whatever failed above: never leave namespaces, mounts or processes behind.
    demo(["stop", ...flags], 300_000);
    // After a failure the components' logs are what tells why: kept for CI's artifacts.
    if (failed) cpSync(join(stateDir, "cluster", "logs"), join(PROJECT_ROOT, "test-artifacts", "cluster-logs"), { recursive: true });
    rmSync(root, { recursive: true, force: true });
  }, 400_000);

  it("comes up with every node Ready, printing kubectl get nodes -o wide", () => {
    expect(report.nodes.map((n) => `${n.name}=${n.ready}`).sort()).toEqual(["controlplane1", "controlplane2", "controlplane3", "worker1", "worker2"].map((n) => `${n}=true`));
    expect(report.nodesWide).toMatch(new RegExp(`worker2\\s+Ready\\s.*${NET.replaceAll(".", "\\.")}\\.32`));
    // kubeadm's role label on the control planes (the cluster plan's nodeLabels), none on the workers.
    expect(report.nodesWide).toMatch(/controlplane1\s+Ready\s+control-plane\s/);
    expect(report.nodesWide).toMatch(/worker1\s+Ready\s+<none>\s/);
  });

  it("the fleet page shows the cluster's certificates (screenshot in test-artifacts/)", async () => {
    let body = "";
    for (let i = 0; i < 60; i++) {
      const r = await fetch(new URL("api/fleet", report.fleetUrl)).catch(() => undefined);
      const j = r && r.ok ? ((await r.json()) as { counts?: { ok: number; missing: number } }) : undefined;
      if (j?.counts && j.counts.missing === 0 && j.counts.ok > 0) break;
      await sleep(2000);
    }
    const shot = await withChromium(async (page) => {
      await page.goto(report.fleetUrl, { waitUntil: "load" });
      body = await page.content();
      return screenshot(page, "cluster-fleet.png");
    });
    expect(body).toContain("worker1");
    expect(body).toContain("apiserver-kubelet-client");
    expect(body).toContain("kubelet-serving");
    expect(body).toContain("loadbalancer2");
    expect(body).toMatch(/0 missing/);
    console.log(`fleet page screenshot: ${shot}`);
  }, 180_000);

  it("a second run reuses what runs", () => {
    const again = demo(["up", "--json", ...upFlags], 300_000);
    expect(again.code, again.err.slice(-3000)).toBe(0);
    expect(again.err).toMatch(new RegExp(`worker1\\s+${NET.replaceAll(".", "\\.")}\\.31\\s+running \\(supervisor pid`));
    const r2 = JSON.parse(again.out) as ClusterReport;
    expect(r2.processes.filter((p) => p.kind === "host").map((p) => p.pid).sort()).toEqual(report.processes.filter((p) => p.kind === "host").map((p) => p.pid).sort());
  }, 400_000);

  it("hak-deploy check (the seed's check.sh) passes, every check named", () => {
    const r = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "hak-deploy.js"), "check", "--skip-ssh", "--json", "--kubeconfig", report.adminKubeconfig, "-i", invFile], { encoding: "utf8", timeout: 600_000 });
    const rep = JSON.parse(r.stdout) as CheckReport;
    const failed = rep.items.filter((i) => !i.ok).map((i) => `${i.host} ${i.check}: ${i.detail}`);
    expect(failed).toEqual([]);
    expect(r.status).toBe(0);
    const kinds = new Set(rep.items.map((i) => `${i.host}/${i.check}`));
    for (const w of ["worker1", "worker2"]) for (const c of ["node", "pod", "logs", "exec", "dns", "service"]) expect(kinds.has(`${w}/${c}`), `${w}/${c}`).toBe(true);
    expect(rep.items.some((i) => i.check === "service-account" && i.ok)).toBe(true);
  }, 700_000);

  it("pod to pod across the two workers, and a Service backed by a pod on the other worker", async () => {
    const ns = "e2e-net";
    await admin.run(["create", "namespace", ns]);
    const ap = await admin.run(["apply", "-f", "-"], { input: `${server(ns, "a", "worker1")}\n---\n${server(ns, "b", "worker2")}` });
    expect(ap.code, ap.stderr).toBe(0);
    const a = await waitPod(admin, ns, "a");
    const b = await waitPod(admin, ns, "b");
    expect([a.node, b.node]).toEqual(["worker1", "worker2"]);
    const direct = await admin.run(["-n", ns, "exec", "a", "--", "wget", "-qO-", `http://${b.ip}:8080/`]);
    expect(direct.stdout.trim(), direct.stderr).toBe("b on worker2");
    const back = await admin.run(["-n", ns, "exec", "b", "--", "wget", "-qO-", `http://${a.ip}:8080/`]);
    expect(back.stdout.trim(), back.stderr).toBe("a on worker1");
    // The pod address is kept end to end (no masquerade between nodes): b sees a's pod IP.
    const svc = await admin.run(["-n", ns, "expose", "pod", "b", "--port=80", "--target-port=8080", "--name=b"]);
    expect(svc.code, svc.stderr).toBe(0);
    const ip = (await admin.run(["-n", ns, "get", "svc", "b", "-o", "jsonpath={.spec.clusterIP}"])).stdout.trim();
    let body = "";
    for (let i = 0; i < 20 && body !== "b on worker2"; i++) {
      body = (await admin.run(["-n", ns, "exec", "a", "--", "wget", "-qO-", `http://${ip}/`])).stdout.trim();
      if (body !== "b on worker2") await sleep(1000);
    }
    expect(body).toBe("b on worker2");
  }, 400_000);

  it("Node authorizer + NodeRestriction: worker1's kubelet cannot change worker2's Node nor read a secret only a worker2 pod uses", async () => {
    const ns = "e2e-node";
    await admin.run(["create", "namespace", ns]);
    await admin.run(["-n", ns, "create", "secret", "generic", "only-w2", "--from-literal=k=v"]);
    const pod = stringify({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "uses-secret", namespace: ns },
      spec: { nodeSelector: { "kubernetes.io/hostname": "worker2" }, containers: [{ name: "c", image: "hak.local/busybox:1.35", imagePullPolicy: "IfNotPresent", command: ["sleep", "3600"], volumeMounts: [{ name: "s", mountPath: "/s" }] }], volumes: [{ name: "s", secret: { secretName: "only-w2" } }] },
    });
    expect((await admin.run(["apply", "-f", "-"], { input: pod })).code).toBe(0);
    await waitPod(admin, ns, "uses-secret");
    const w1 = kubectl(kubectlBin, kubeconfigOf("worker1", "kubelet"));
    const w2 = kubectl(kubectlBin, kubeconfigOf("worker2", "kubelet"));
    const who = await w1.run(["auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.groups}"]);
    expect(who.stdout).toContain("system:node:worker1");
    expect(who.stdout).toContain("system:nodes");
    const patchOther = await w1.run(["label", "node", "worker2", "hak.dev/tampered=yes", "--overwrite"]);
    expect(patchOther.code).not.toBe(0);
    expect(patchOther.stderr).toMatch(/forbidden|Forbidden/);
    const readOther = await w1.run(["-n", ns, "get", "secret", "only-w2"]);
    expect(readOther.code).not.toBe(0);
    expect(readOther.stderr).toMatch(/forbidden|Forbidden/);
    // Positive control: the node whose pod uses it may read it.
    const readOwn = await w2.run(["-n", ns, "get", "secret", "only-w2", "-o", "name"]);
    expect(readOwn.stdout.trim(), readOwn.stderr).toBe("secret/only-w2");
    // NodeRestriction: a kubelet cannot set node-restriction labels, even on its own Node.
    const ownRestricted = await w1.run(["label", "node", "worker1", "node-restriction.kubernetes.io/x=y"]);
    expect(ownRestricted.code).not.toBe(0);
    const deleteOther = await w1.run(["delete", "node", "worker2", "--wait=false"]);
    expect(deleteOther.code).not.toBe(0);
  }, 300_000);

  it("kube-proxy's and CoreDNS' identities do their job and no more", async () => {
    const kp = kubectl(kubectlBin, kubeconfigOf("worker1", "kube-proxy"));
    const dns = kubectl(kubectlBin, kubeconfigOf("worker1", "coredns"));
    const can = async (k: Kubectl, verb: string, res: string) => (await k.run(["auth", "can-i", verb, res, "--all-namespaces"])).stdout.trim();
    expect(await can(kp, "list", "services")).toBe("yes");
    expect(await can(kp, "watch", "endpointslices.discovery.k8s.io")).toBe("yes");
    expect(await can(kp, "list", "secrets")).toBe("no");
    expect(await can(kp, "create", "pods")).toBe("no");
    expect(await can(kp, "update", "services")).toBe("no");
    expect(await can(dns, "watch", "services")).toBe("yes");
    expect(await can(dns, "list", "endpointslices.discovery.k8s.io")).toBe("yes");
    expect(await can(dns, "list", "secrets")).toBe("no");
    expect(await can(dns, "create", "services")).toBe("no");
    expect(await can(dns, "list", "nodes")).toBe("no");
    // And the real calls, not only the review.
    expect((await kp.run(["get", "secrets", "-A"])).stderr).toMatch(/forbidden/i);
    expect((await dns.run(["get", "services", "-A", "-o", "name"])).stdout).toContain("service/kubernetes");
  }, 120_000);

  it("admin (kubeadm:cluster-admins) is revocable RBAC; super-admin (system:masters) is not, as kubeadm documents", async () => {
    const groups = async (k: Kubectl) => (await k.run(["auth", "whoami", "-o", "jsonpath={.status.userInfo.groups}"])).stdout;
    expect(await groups(admin)).toContain("kubeadm:cluster-admins");
    expect(await groups(admin)).not.toContain("system:masters");
    expect(await groups(superAdmin)).toContain("system:masters");
    expect((await admin.run(["auth", "can-i", "*", "*"])).stdout.trim()).toBe("yes");
    // Remove the binding hak applied: admin loses everything, super-admin keeps it; hak's apply brings it back.
    expect((await superAdmin.run(["delete", "clusterrolebinding", "kubeadm:cluster-admins"])).code).toBe(0);
    let denied = "";
    for (let i = 0; i < 30 && !/forbidden/i.test(denied); i++) {
      denied = (await admin.run(["get", "nodes"])).stderr;
      if (!/forbidden/i.test(denied)) await sleep(1000);
    }
    expect(denied).toMatch(/forbidden/i);
    expect((await superAdmin.run(["get", "nodes", "-o", "name"])).stdout).toContain("node/worker1");
    await applyClusterPlan(superAdmin, loadInventory(invFile));
    let back = 1;
    for (let i = 0; i < 30 && back !== 0; i++) {
      back = (await admin.run(["get", "nodes"])).code ?? 1;
      if (back !== 0) await sleep(1000);
    }
    expect(back).toBe(0);
  }, 180_000);

  it.runIf(ROTATION)(
    "rotation under load: 2-minute leaves, every certificate rotates twice, 0 failed requests through the load balancer",
    async () => {
      const r = await rotationUnderLoad({ stateDir, admin, inventory: loadInventory(invFile), minutes: Number(process.env.HAK_ROTATION_MINUTES ?? 6) });
      console.log(JSON.stringify(r.summary, null, 2));
      expect(r.failures).toEqual([]);
      // Every component picks up its new certificates itself: the agents restarted nothing.
      expect(Object.entries(r.summary.units).filter(([, u]) => u.requested > 0)).toEqual([]);
      expect(r.summary.requests).toBeGreaterThan(1000);
      expect(r.summary.minRotations).toBeGreaterThanOrEqual(2);
      expect(r.summary.podRestarts).toBe(0);
      expect(r.summary.notReadySamples).toBe(0);
    },
    1_800_000,
  );

  it("stop leaves no process, mount, namespace, cgroup or iptables rule behind", () => {
    const s = demo(["stop", ...flags], 300_000);
    expect(s.code, s.err).toBe(0);
    const netns = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
    expect(netns.split("\n").filter((l) => l.startsWith(`${PREFIX}-`))).toEqual([]);
    const links = spawnSync("ip", ["-o", "link"], { encoding: "utf8" }).stdout;
    expect(links).not.toContain(`${PREFIX}br0`);
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(stateDir);
    for (const h of cgroupHierarchies()) expect(readdirSync(join("/sys/fs/cgroup", h)).filter((d) => d.startsWith(`${PREFIX}-`)), h).toEqual([]);
    const procs = spawnSync("ps", ["-eo", "args"], { encoding: "utf8" }).stdout.split("\n").filter((l) => l.includes(stateDir) || l.includes(root));
    expect(procs).toEqual([]);
    expect(rootIptables()).toBe(iptablesBefore);
  }, 400_000);
});
