import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { binaryPath, BINARY_NAMES, CNI_PLUGIN_NAMES } from "../../src/common/binaries.js";
import { freePort } from "../../src/common/localbao.js";

/**
 * The binaries setup built: `scripts/setup.sh --check` lists each one at the
 * version its go.mod pins, and the etcd 3.6 that Kubernetes 1.35 needs
 * (Debian's is 3.4) serves as a real etcd.
 */

const run = promisify(execFile);

/** The version build/<dir>/go.mod requires for a module. */
function pinned(dir: string, module: string): string {
  const m = new RegExp(`^\\s*(?:require\\s+)?${module.replace(/[./]/g, "\\$&")} (v\\S+)`, "m").exec(readFileSync(join("build", dir, "go.mod"), "utf8"));
  if (!m?.[1]) throw new Error(`build/${dir}/go.mod does not require ${module}`);
  return m[1];
}

describe("the cluster's binaries", () => {
  it("setup.sh --check lists every binary, CNI plugin and image with the pinned versions", async () => {
    const { stdout } = await run("bash", ["scripts/setup.sh", "--check"], { timeout: 60_000 });
    const version = new Map(
      stdout
        .split("\n")
        .slice(1)
        .filter(Boolean)
        .map((l) => {
          const [name, v] = l.split(/\s{2,}/);
          return [name ?? "", v ?? ""] as const;
        }),
    );
    for (const n of [...BINARY_NAMES, ...CNI_PLUGIN_NAMES, "image pause", "image busybox"]) {
      expect(version.get(n), n).toBeDefined();
      expect(version.get(n), n).not.toMatch(/^(MISSING|\?)$/);
    }
    const k8s = pinned("kubernetes", "k8s.io/kubernetes");
    for (const n of ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl", "kubeadm"]) {
      expect(version.get(n), n).toBe(k8s);
    }
    expect(`v${version.get("etcd")}`).toBe(pinned("etcd", "go.etcd.io/etcd/server/v3"));
    expect(`v${version.get("etcdctl")}`).toBe(pinned("etcd", "go.etcd.io/etcd/etcdctl/v3"));
    expect(version.get("coredns")).toBe(`CoreDNS-${pinned("coredns", "github.com/coredns/coredns").slice(1)}`);
    expect(version.get("containerd")).toBe(pinned("containerd", "github.com/containerd/containerd/v2"));
    for (const n of CNI_PLUGIN_NAMES) expect(version.get(n), n).toBe(pinned("cni", "github.com/containernetworking/plugins"));
    expect(version.get("image pause")).toBe("hak.local/pause:3.10.1");
  });

  describe("etcd 3.6", () => {
    const dir = mkdtempSync(join(tmpdir(), "hak-etcd36-"));
    let etcd: ChildProcess | undefined;
    afterAll(async () => {
      if (etcd && etcd.exitCode === null) {
        const exited = new Promise((r) => etcd?.once("exit", r));
        etcd.kill("SIGTERM");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    });

    it("serves reads and writes and reports server version 3.6", async () => {
      const client = `http://127.0.0.1:${await freePort()}`;
      const peer = `http://127.0.0.1:${await freePort()}`;
      etcd = spawn(
        binaryPath("etcd"),
        [
          "--name=one",
          `--data-dir=${join(dir, "data")}`,
          `--listen-client-urls=${client}`,
          `--advertise-client-urls=${client}`,
          `--listen-peer-urls=${peer}`,
          `--initial-advertise-peer-urls=${peer}`,
          `--initial-cluster=one=${peer}`,
          "--log-level=error",
        ],
        { stdio: "ignore" },
      );
      const ctl = (...args: string[]) => run(binaryPath("etcdctl"), [`--endpoints=${client}`, "--dial-timeout=2s", ...args], { timeout: 10_000 });
      const deadline = Date.now() + 30_000;
      for (;;) {
        const ok = await ctl("endpoint", "health").then(
          () => true,
          () => false,
        );
        if (ok) break;
        if (etcd.exitCode !== null || Date.now() > deadline) throw new Error("etcd 3.6 did not become healthy");
        await new Promise((r) => setTimeout(r, 200));
      }
      await ctl("put", "hak", "3.6");
      expect((await ctl("get", "hak", "--print-value-only")).stdout.trim()).toBe("3.6");
      const status = JSON.parse((await ctl("endpoint", "status", "-w", "json")).stdout) as { Status: { version: string } }[];
      expect(status[0]?.Status.version).toMatch(/^3\.6\./);
    });
  });
});
