import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent } from "../../src/agent/agent.js";
import { main as agentMain } from "../../src/agent/cli.js";
import { parseAgentConfig, type AgentConfig } from "../../src/agent/config.js";
import { freePort } from "../../src/common/localbao.js";
import type { VaultClient } from "../../src/common/vault.js";
import { bootstrap } from "../../src/pki/bootstrap.js";
import { hostPlan, relocatePlan, type HostPlan } from "../../src/plan/index.js";
import { realBao } from "../helpers/bao.js";
import { loopbackInventory } from "../helpers/inventory.js";
import { memoryLogger } from "../agent/fixture.js";

/**
 * For every host role, the agent runs exactly its plan's agent config
 * (moved under a folder per host, owned by the test's user) against a real
 * OpenBao bootstrapped by hak-pki, writes every output and reports ready;
 * then each kubeconfig it wrote works with the real kubectl against a TLS
 * server that presents the control plane's apiserver certificate from the
 * same run and asks for a client certificate of the kubernetes CA.
 */

// A /24 of loopback per run, so parallel runs of this file do not share addresses.
const net = 150 + Math.floor(Math.random() * 50);
const inv = loopbackInventory({
  name: "plantest",
  net,
  hosts: [
    ["etcd1", "etcd"],
    ["controlplane1", "controlplane"],
    ["worker1", "worker"],
    ["loadbalancer1", "loadbalancer"],
  ],
});

let bao: Awaited<ReturnType<typeof realBao>>;
let root: VaultClient;
let dir: string;
const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;

function planFor(host: string): HostPlan {
  const plan = hostPlan(inv, host, { vault: { addresses: [bao.address], caFile: bao.caFile } });
  // No unit of the plan runs here: the actions (systemctl) are dropped, the files and their ownership are what is checked.
  return relocatePlan(plan, join(dir, host), { owner: uid, group: gid, dropActions: true });
}

async function enroll(cfg: AgentConfig): Promise<void> {
  const r = await root.write<{ secret_id: string }>(`auth/approle/role/${cfg.host}/secret-id`, {});
  mkdirSync(join(cfg.auth.secretIdFile, ".."), { recursive: true });
  writeFileSync(cfg.auth.secretIdFile, `${r!.data!.secret_id}\n`, { mode: 0o600 });
}

function writtenFiles(cfg: AgentConfig): string[] {
  return cfg.outputs.flatMap((o) => (o.type === "certificate" ? [o.certFile, o.keyFile, o.caFile!] : [o.path]));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hak-plan-agent-"));
  bao = await realBao();
  root = bao.client();
  await bootstrap(root, inv, {});
}, 120_000);

afterAll(async () => {
  await root?.close();
  await bao?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const configs = new Map<string, AgentConfig>();

describe("the plan's agent config against real OpenBao", () => {
  it.each([["etcd1"], ["worker1"], ["loadbalancer1"]])("%s: the agent writes every output and reports ready", async (host) => {
    const cfg = parseAgentConfig(planFor(host).agent);
    await enroll(cfg);
    const agent = new Agent(cfg, { log: memoryLogger().log });
    expect(await agent.once()).toBe(true);
    for (const f of writtenFiles(cfg)) expect(existsSync(f), f).toBe(true);
    for (const o of cfg.outputs) {
      const file = o.type === "certificate" ? o.keyFile : o.path;
      const mode = statSync(file).mode & 0o777;
      expect(mode & 0o077, `${file} ${mode.toString(8)}`).toBe(o.type === "secret" && o.mode === 0o644 ? 0o044 : 0);
    }
    configs.set(host, cfg);
  }, 60_000);

  it("controlplane1 with `hak-agent once` (the config the Nix copy got wrong): kubeconfigs included, exit 0", async () => {
    const plan = planFor("controlplane1");
    const file = join(dir, "controlplane1.agent.json");
    writeFileSync(file, `${JSON.stringify(plan.agent, null, 2)}\n`);
    const cfg = parseAgentConfig(plan.agent);
    await enroll(cfg);
    expect(cfg.outputs.filter((o) => o.type === "kubeconfig").map((o) => o.name)).toEqual([
      "controller-manager-kubeconfig",
      "scheduler-kubeconfig",
      "kubelet-kubeconfig",
      "kube-proxy-kubeconfig",
    ]);
    const code = await agentMain(["once", file]);
    expect(code).toBe(0);
    for (const f of writtenFiles(cfg)) expect(existsSync(f), f).toBe(true);
    const saKey = cfg.outputs.find((o) => o.name === "service-account-key");
    expect(saKey?.type).toBe("secret");
    expect(readFileSync(saKey!.type === "secret" ? saKey!.path : "", "utf8")).toMatch(/PRIVATE KEY/);
    configs.set("controlplane1", cfg);
  }, 60_000);
});

/** A stand-in apiserver: the real apiserver certificate and key, client certificates of the kubernetes CA required, /version only. */
async function versionServer(address: string, cfg: AgentConfig): Promise<{ url: string; seen: string[]; server: Server }> {
  const out = cfg.outputs.find((o) => o.name === "apiserver");
  if (!out || out.type !== "certificate") throw new Error("no apiserver output");
  const seen: string[] = [];
  const server = createServer(
    { key: readFileSync(out.keyFile), cert: readFileSync(out.certFile), ca: readFileSync(out.caFile!), requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      seen.push(String((req.socket as TLSSocket).getPeerCertificate().subject.CN));
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ major: "1", minor: "35", gitVersion: "v1.35.4", platform: "linux/amd64" }));
    },
  );
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, address, resolve));
  return { url: `https://${address}:${port}`, seen, server };
}

function kubectl(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn("kubectl", args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    p.on("close", (code) => resolve({ code, out, err }));
  });
}

describe("every kubeconfig the plan has the agent write works with kubectl", () => {
  it("against the apiserver certificate, on the address each kubeconfig names (the control plane's own, or the virtual IP)", async () => {
    const cp = configs.get("controlplane1");
    expect(cp, "controlplane1 ran").toBeDefined();
    const kubeconfigs = [...configs.values()].flatMap((c) => c.outputs.flatMap((o) => (o.type === "kubeconfig" ? [{ host: c.host, o, cert: c.outputs.find((x) => x.name === o.certificate)! }] : [])));
    expect(kubeconfigs.map((k) => `${k.host}/${k.o.name}`).sort()).toEqual(
      [
        "controlplane1/controller-manager-kubeconfig",
        "controlplane1/scheduler-kubeconfig",
        "controlplane1/kubelet-kubeconfig",
        "controlplane1/kube-proxy-kubeconfig",
        "worker1/kubelet-kubeconfig",
        "worker1/kube-proxy-kubeconfig",
        "worker1/coredns-kubeconfig",
      ].sort(),
    );
    const servers = new Map<string, Awaited<ReturnType<typeof versionServer>>>();
    try {
      for (const k of kubeconfigs) {
        if (k.o.type !== "kubeconfig" || k.cert.type !== "certificate") continue;
        const address = new URL(k.o.server).hostname;
        if (!servers.has(address)) servers.set(address, await versionServer(address, cp!));
        const s = servers.get(address)!;
        // Same host and CA as the kubeconfig names; only the port is this test's (the server flag changes nothing else).
        const r = await kubectl(["--kubeconfig", k.o.path, "--server", s.url, "version", "-o", "json", "--request-timeout=10s"]);
        expect(r.code, `${k.host}/${k.o.name}: ${r.err}`).toBe(0);
        expect(JSON.parse(r.out).serverVersion.gitVersion).toBe("v1.35.4");
        expect(s.seen.at(-1)).toBe(k.cert.commonName);
      }
      // A negative control: a kubeconfig against a server whose certificate its CA did not sign fails.
      const etcd = configs.get("etcd1")!;
      const wrong = etcd.outputs.find((o) => o.name === "etcd-server");
      if (wrong?.type !== "certificate") throw new Error("no etcd-server output");
      const bad = createServer({ key: readFileSync(wrong.keyFile), cert: readFileSync(wrong.certFile) }, (_q, res) => res.end("{}"));
      const port = await freePort();
      await new Promise<void>((resolve) => bad.listen(port, "127.0.0.1", resolve));
      try {
        const k = kubeconfigs.find((x) => x.o.name === "scheduler-kubeconfig")!;
        const r = await kubectl(["--kubeconfig", k.o.type === "kubeconfig" ? k.o.path : "", "--server", `https://127.0.0.1:${port}`, "version", "-o", "json", "--request-timeout=10s"]);
        expect(r.code).not.toBe(0);
        expect(r.err).toMatch(/certificate|x509|tls/i);
      } finally {
        bad.close();
      }
    } finally {
      for (const s of servers.values()) s.server.close();
    }
  }, 90_000);
});
