/**
 * npm run bench:cluster — the local cluster from a fresh state folder to
 * every node Ready, then to `hak-deploy check` (the seed's check.sh)
 * passing; the memory of each component (RSS summed over the hosts that run
 * it); the machine's size. A script, not a test: it prints figures.
 *
 * Runs its own copy (state in a temporary folder, prefix "hakb", subnet
 * 10.242.0.0/24, free ports), so it never touches a person's demo.
 */
import { cpus, totalmem, tmpdir } from "node:os";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { binaryPath } from "../src/common/binaries.js";
import { loadInventory } from "../src/common/inventory.js";
import { freePort } from "../src/common/localbao.js";
import { PROJECT_ROOT } from "../src/common/paths.js";
import { clusterStatus, clusterStop, clusterUp } from "../src/cluster/cluster.js";
import { checkKubernetes } from "../src/deploy/kube-check.js";
import { kubectl } from "../src/deploy/kubectl.js";
import { imageInfo } from "../src/common/binaries.js";

function rssKb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** The pid and its descendants (containerd's shims and pods are counted apart). */
function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "hak-bench-"));
  const stateRoot = join(root, "s");
  const invFile = join(root, "inventory.yaml");
  const doc = parse(readFileSync(join(PROJECT_ROOT, "examples", "demo-cluster.yaml"), "utf8")) as { apiVip: string; hosts: { address: string }[] };
  doc.apiVip = doc.apiVip.replace("10.240.0.", "10.242.0.");
  for (const h of doc.hosts) h.address = h.address.replace("10.240.0.", "10.242.0.");
  writeFileSync(invFile, stringify(doc));
  const prefix = "hakb";
  const marks: [string, number][] = [];
  const t0 = performance.now();
  const say = (l: string) => {
    if (/^\d\/\d /.test(l)) marks.push([l.slice(0, 60), (performance.now() - t0) / 1000]);
  };
  try {
    const baoPort = await freePort();
    const report = await clusterUp({
      projectRoot: PROJECT_ROOT,
      stateRoot,
      inventoryFile: invFile,
      baoPort,
      baoClusterPort: await freePort(),
      serveListen: { host: "127.0.0.1", port: await freePort() },
      serveIntervalSeconds: 10,
      prefix,
      say,
    });
    const ready = (performance.now() - t0) / 1000;
    const inv = loadInventory(invFile);
    const items = await checkKubernetes(inv, { kubectl: kubectl(binaryPath("kubectl"), report.adminKubeconfig), image: imageInfo("busybox").ref, namespace: "hak-bench-check" });
    const checked = (performance.now() - t0) / 1000;
    const failed = items.filter((i) => !i.ok);

    const mem = new Map<string, { kb: number; n: number }>();
    const add = (k: string, kb: number) => {
      const m = mem.get(k) ?? { kb: 0, n: 0 };
      m.kb += kb;
      m.n++;
      mem.set(k, m);
    };
    for (const h of await clusterStatus(stateRoot, inv)) {
      add("supervisor (stand-in for systemd)", rssKb(h.pid));
      for (const u of h.units) {
        if (!u.pid) continue;
        add(u.name, rssKb(u.pid));
        if (u.name === "containerd") for (const c of children(u.pid)) add("containerd-shim + pods", rssKb(c));
      }
    }
    const total = [...mem.values()].reduce((a, m) => a + m.kb, 0);
    const machine = { cpus: cpus().length, memoryMiB: Math.round(totalmem() / 1048576) };
    const lines = [
      `machine: ${machine.cpus} CPUs, ${machine.memoryMiB} MiB RAM (shared with whatever else runs)`,
      `hosts: ${inv.hosts.length} (${inv.hosts.map((h) => h.role).filter((r, i, a) => a.indexOf(r) === i).map((r) => `${inv.hosts.filter((h) => h.role === r).length} ${r}`).join(", ")})`,
      "",
      "phase                                                          at (s)",
      ...marks.map(([l, s]) => `${l.padEnd(62)} ${s.toFixed(1).padStart(6)}`),
      `${"every node Ready".padEnd(62)} ${ready.toFixed(1).padStart(6)}`,
      `${`hak-deploy check ${failed.length === 0 ? "passing" : `FAILED (${failed.map((f) => `${f.host} ${f.check}`).join(", ")})`}`.padEnd(62)} ${checked.toFixed(1).padStart(6)}`,
      "",
      "component                           processes   RSS MiB   share of RAM",
      ...[...mem]
        .sort((a, b) => b[1].kb - a[1].kb)
        .map(([k, m]) => `${k.padEnd(36)}${String(m.n).padStart(9)}${(m.kb / 1024).toFixed(0).padStart(10)}${`${((m.kb / 1024 / machine.memoryMiB) * 100).toFixed(1)}%`.padStart(15)}`),
      `${"total".padEnd(36)}${"".padStart(9)}${(total / 1024).toFixed(0).padStart(10)}${`${((total / 1024 / machine.memoryMiB) * 100).toFixed(1)}%`.padStart(15)}`,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
    if (failed.length > 0) process.exitCode = 1;
  } finally {
    await clusterStop({ prefix, stateRoot, say: () => {} }, invFile).catch((e: unknown) => process.stderr.write(`stop: ${(e as Error).message}\n`));
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
