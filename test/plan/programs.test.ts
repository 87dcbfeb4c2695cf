import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadInventory } from "../../src/common/inventory.js";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import { allHostPlans, hostPlan, relocatePlan, type HostPlan, type PlanOptionsInput } from "../../src/plan/index.js";
import { COREDNS_CONFIG_FILE, CONTAINERD_CONFIG_FILE, KUBE_PROXY_CONFIG_FILE, KUBELET_CONFIG_FILE } from "../../src/plan/node.js";

/**
 * The plans against the real programs they name, at the versions the
 * cluster runs (scripts/build-binaries.sh links them into .tools/bin;
 * HAK_BIN_DIR overrides): every service's arguments pass its own flag
 * parser, kubeadm's strict decoder accepts the KubeletConfiguration and
 * KubeProxyConfiguration, containerd 2 reads config.toml with our values in
 * place, and CoreDNS has every plugin the Corefile uses. Each with a
 * negative control. Without the binaries these tests are skipped, saying so.
 */

const binDir = process.env.HAK_BIN_DIR || join(PROJECT_ROOT, ".tools", "bin");
const bin = (name: string) => join(binDir, name);
const have = (...names: string[]) => names.every((n) => existsSync(bin(n)));
const K8S = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubeadm"];

const demo = loadInventory(join(PROJECT_ROOT, "examples", "demo-cluster.yaml"));
const dir = mkdtempSync(join(tmpdir(), "hak-plan-programs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const plans = allHostPlans(demo, { kubelet: { failCgroupV1: false }, containerd: { sandboxImage: "hak.local/pause:3.10.1" } });

const hostPlanOf = (name: string, extra: PlanOptionsInput) => hostPlan(demo, name, { containerd: { sandboxImage: "hak.local/pause:3.10.1", ...extra.containerd } });

function written(p: HostPlan): HostPlan {
  const moved = relocatePlan(p, join(dir, p.host.name));
  for (const f of moved.files) {
    mkdirSync(dirname(f.path), { recursive: true });
    writeFileSync(f.path, f.content);
  }
  return moved;
}

function run(program: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(bin(program), args, { encoding: "utf8", timeout: 30_000 });
  return { status: r.status, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

const fileIn = (p: HostPlan, hostPath: string) => p.files.find((f) => f.path.endsWith(hostPath))!.path;

describe.skipIf(!have(...K8S, "etcd"))(`command lines against the real flag parsers (${binDir})`, () => {
  it("every Kubernetes and etcd service's arguments are accepted (`PROGRAM ARGS --help` exits 0)", () => {
    const checked = new Set<string>();
    for (const p of plans) {
      for (const s of p.services) {
        if (!K8S.includes(s.program) && s.program !== "etcd") continue;
        const r = run(s.program, [...s.args, "--help"]);
        expect(r.status, `${p.host.name} ${s.name}: ${r.out.split("\n").slice(0, 3).join(" ")}`).toBe(0);
        checked.add(s.program);
      }
    }
    expect([...checked].sort()).toEqual(["etcd", "kube-apiserver", "kube-controller-manager", "kube-proxy", "kube-scheduler", "kubelet"]);
  });

  it("negative control: an unknown flag or a bad value fails the same check", () => {
    expect(run("kube-apiserver", ["--secure-port=not-a-port", "--help"]).status).not.toBe(0);
    expect(run("kubelet", ["--pod-infra-container-image=pause", "--help"]).status).not.toBe(0);
    expect(run("etcd", ["--experimental-no-such-flag=1", "--help"]).status).not.toBe(0);
  });
});

describe.skipIf(!have("kubeadm"))("component configs against kubeadm's strict decoder", () => {
  const validate = (p: HostPlan, extra = "") => {
    const file = join(dir, `${p.host.name}-kubeadm.yaml`);
    const kubelet = p.files.find((f) => f.path.endsWith(KUBELET_CONFIG_FILE))!.content;
    const proxy = p.files.find((f) => f.path.endsWith(KUBE_PROXY_CONFIG_FILE))!.content;
    writeFileSync(file, `apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v${p.kubernetesVersion}\n---\n${kubelet}${extra}---\n${proxy}`);
    return run("kubeadm", ["config", "validate", "--config", file]);
  };

  it.each([["controlplane1"], ["worker1"]])("%s: KubeletConfiguration and KubeProxyConfiguration validate", (name) => {
    const r = validate(plans.find((p) => p.host.name === name)!);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain("ok");
  });

  it("negative control: an unknown KubeletConfiguration field is refused", () => {
    const r = validate(plans.find((p) => p.host.name === "worker1")!, "podInfraContainerImage: pause\n");
    expect(r.status).not.toBe(0);
    expect(r.out).toContain('unknown field "podInfraContainerImage"');
  });
});

describe.skipIf(!have("containerd"))("containerd 2 reads config.toml", () => {
  it("with the plan's snapshotter, sandbox image, cgroup driver and CNI folders where the CRI plugin looks", () => {
    const p = written(plans.find((x) => x.host.name === "worker2")!);
    const r = run("containerd", ["--config", fileIn(p, CONTAINERD_CONFIG_FILE), "config", "dump"]);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/\[plugins\.'io\.containerd\.cri\.v1\.images'\]\n(?:.*\n)*?\s+snapshotter = 'overlayfs'/);
    expect(r.out).toContain("sandbox = 'hak.local/pause:3.10.1'");
    expect(r.out).toContain("SystemdCgroup = true");
    expect(r.out).toContain(`bin_dirs = ['${join(dir, "worker2")}/opt/cni/bin']`);
    expect(r.out).toContain(`conf_dir = '${join(dir, "worker2")}/etc/cni/net.d'`);
    expect(r.out).not.toMatch(/level=(warning|error)/);
    expect(r.out).toContain("restrict_oom_score_adj = false");
    const root = join(dir, "worker2");
    for (const line of [
      `address = '${root}/run/containerd/containerd.sock.ttrpc'`,
      `path = '${root}/var/lib/containerd/opt'`,
      "netns_mounts_under_state_dir = true",
      `Root = '${root}/run/containerd/runc'`,
    ])
      expect(r.out).toContain(line);
    const local = written({ ...hostPlanOf("worker1", { containerd: { restrictOomScoreAdj: true } }) });
    const l = run("containerd", ["--config", fileIn(local, CONTAINERD_CONFIG_FILE), "config", "dump"]);
    expect(l.out).toContain("restrict_oom_score_adj = true");
  });
});

describe.skipIf(!have("coredns"))("CoreDNS has every plugin the Corefile uses", () => {
  it("bind, errors, health, ready, kubernetes, forward, cache, loop", () => {
    const listed = run("coredns", ["-plugins"]);
    expect(listed.status).toBe(0);
    const corefile = plans.find((p) => p.host.name === "worker1")!.files.find((f) => f.path === COREDNS_CONFIG_FILE)!.content;
    const directives = [...corefile.matchAll(/^ {4}([a-z]+)\b/gm)].map((m) => m[1]!);
    expect(directives).toEqual(["bind", "errors", "health", "ready", "kubernetes", "forward", "cache", "loop"]);
    // `coredns -plugins` lists one plugin per line (its server type's name before them, e.g. "dns").
    const plugins = new Set(listed.out.split("\n").map((l) => l.trim().replace(/^dns\./, "")));
    expect(plugins.has("nosuchplugin")).toBe(false);
    expect(directives.filter((d) => !plugins.has(d)), "plugins the Corefile uses that this coredns lacks").toEqual([]);
  });
});
