import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { loadInventory } from "../../src/common/inventory.js";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import { hostPlan, hostPlanSchema } from "../../src/plan/index.js";
import { runCli as run } from "./helpers/cli.js";

const dir = mkdtempSync(join(tmpdir(), "hak-plan-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const demo = join(PROJECT_ROOT, "examples", "demo-cluster.yaml");

describe("hak-deploy plan", () => {
  it("prints a host's certificates, services with their command lines, and files", async () => {
    const r = await run(["plan", "controlplane1", "-i", demo]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^controlplane1 \(controlplane\) 10\.240\.0\.21/);
    expect(r.out).toMatch(/CERTIFICATES\nPROFILE\s+CA\s+COMMON NAME/);
    expect(r.out).toMatch(/apiserver\s+kubernetes\s+kube-apiserver\s+-\s+controlplane1,controlplane1\.k8s\.local,kubernetes,/);
    expect(r.out).toContain("kube-apiserver as kubernetes:kubernetes");
    expect(r.out).toContain("--etcd-servers=https://10.240.0.11:2379,https://10.240.0.12:2379,https://10.240.0.13:2379 \\");
    expect(r.out).toMatch(/\/etc\/hak\/kubelet\/config\.yaml\s+0644\s+\d+\s+kubelet/);
  });

  it("--files prints each config file's content under its path", async () => {
    const r = await run(["plan", "loadbalancer2", "-i", demo, "--files"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("--- /etc/hak/keepalived/keepalived.conf (0644)\n# keepalived on the load balancers");
    expect(r.out).toMatch(/--- \/etc\/hak\/haproxy\/haproxy\.cfg \(0644\)\n(?:.*\n)*?\s+server controlplane3 10\.240\.0\.23:6443 check/);
  });

  it("--json is the plan, exactly as the hive holds it", async () => {
    const r = await run(["plan", "worker2", "-i", demo, "--json"]);
    expect(r.code).toBe(0);
    const parsed = hostPlanSchema.parse(JSON.parse(r.out));
    expect(parsed).toEqual(hostPlan(loadInventory(demo), "worker2"));
    expect(r.out).toBe(`${readFileSync(join(PROJECT_ROOT, "hive", "plans", "worker2.json"), "utf8").trimEnd()}\n`);
  });

  it("--cluster --yaml prints the RBAC objects for kubectl apply", async () => {
    const r = await run(["plan", "--cluster", "--yaml", "-i", demo]);
    expect(r.code).toBe(0);
    const docs = parseAllDocuments(r.out).map((d) => d.toJSON() as { kind: string; metadata: { name: string } });
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual(["ClusterRoleBinding/kubeadm:cluster-admins", "ClusterRole/system:coredns", "ClusterRoleBinding/system:coredns"]);
  });

  it.each([
    [["plan", "nosuch", "-i", demo], /HOST: not in the inventory: nosuch\n {2}fix: hosts are: etcd1, etcd2/],
    [["plan", "-i", demo], /HOST: which host\? \(or --cluster\)/],
  ])("bad usage %j exits 2 naming what is wrong", async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });

  it("an inventory without a Vault address is refused with the field named, exit 2", async () => {
    const file = join(dir, "novault.yaml");
    writeFileSync(file, readFileSync(demo, "utf8").replace(/^vault:\n.*\n/m, ""));
    const r = await run(["plan", "etcd1", "-i", file]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("inventory.vault.addresses: no Vault address");
  });
});

describe("hak-deploy hive and the plans", () => {
  it("writes one plan per host with schema and version, and --check names the stale plan", async () => {
    const hive = join(dir, "flake");
    const w = await run(["hive", "-i", demo, "--dir", hive]);
    expect(w.code).toBe(0);
    expect(w.out).toContain("hive/plans/worker1.json: written");
    const plan = JSON.parse(readFileSync(join(hive, "hive", "plans", "etcd3.json"), "utf8")) as { schema: string; version: number; host: { name: string } };
    expect([plan.schema, plan.version, plan.host.name]).toEqual(["hak.plan/v1", 1, "etcd3"]);
    expect(parseYaml(readFileSync(join(hive, "hive", "cluster.json"), "utf8")).schema).toBe("hak.cluster-plan/v1");
    expect(await run(["hive", "-i", demo, "--dir", hive, "--check"])).toMatchObject({ code: 0, out: "13 hive files current\n" });

    // The inventory changes (a fourth etcd member): every plan is stale (each host resolves every host: hostNames),
    // those that name the etcd members in their arguments too.
    const changed = join(dir, "changed.yaml");
    writeFileSync(changed, readFileSync(demo, "utf8").replace("  - { name: controlplane1,", "  - { name: etcd4, role: etcd, address: 10.240.0.14 }\n  - { name: controlplane1,"));
    const r = await run(["hive", "-i", changed, "--dir", hive, "--check"]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/hive\/plans\/controlplane1\.json: not current/);
    expect(r.out).toMatch(/hive\/plans\/etcd4\.json: missing/);
    expect(r.out).toContain('+         "--etcd-servers=https://10.240.0.11:2379,https://10.240.0.12:2379,https://10.240.0.13:2379,https://10.240.0.14:2379",');
    expect(r.out).toMatch(/hive\/plans\/loadbalancer1\.json: not current/);
    expect(r.out).toMatch(/\+\s+"etcd4\.k8s\.local"/);
    // A change that only nodes see (their sandbox image) leaves the other plans current.
    const nodesOnly = join(dir, "nodes-only.yaml");
    writeFileSync(nodesOnly, `${readFileSync(demo, "utf8")}\nplan:\n  containerd:\n    sandboxImage: hak.local/pause:9.9\n`);
    const n = await run(["hive", "-i", nodesOnly, "--dir", hive, "--check"]);
    expect(n.code).toBe(1);
    expect(n.out).toMatch(/hive\/plans\/worker1\.json: not current/);
    expect(n.out).not.toMatch(/loadbalancer1\.json|etcd1\.json/);

    // A host leaves the inventory: its plan is stale too (the flake deploys every plan in the folder), and hive removes it.
    const fewer = join(dir, "fewer.yaml");
    writeFileSync(fewer, readFileSync(demo, "utf8").replace(/^ {2}- \{ name: worker2,.*\n/m, ""));
    const c = await run(["hive", "-i", fewer, "--dir", hive, "--check"]);
    expect(c.code).toBe(1);
    expect(c.out).toContain("hive/plans/worker2.json: no such host in the inventory");
    const w2 = await run(["hive", "-i", fewer, "--dir", hive]);
    expect(w2.out).toContain("hive/plans/worker2.json: removed (no such host)");
    expect(existsSync(join(hive, "hive", "plans", "worker2.json"))).toBe(false);
    expect((await run(["hive", "-i", fewer, "--dir", hive, "--check"])).code).toBe(0);
  });

  it("the committed hive/ is what examples/demo-cluster.yaml gives (else: run hak-deploy hive)", async () => {
    const r = await run(["hive", "-i", demo, "--dir", PROJECT_ROOT, "--check"]);
    expect(r.out).toBe("13 hive files current\n");
    expect(r.code).toBe(0);
  });
});
