/**
 * hak-agent next to OpenBao's own agent (`bao agent` with pkiCert templates)
 * and consul-template (the same templates) against the same real OpenBao
 * (TLS, raft), for 1 and 10 certificate outputs: peak and steady RSS, CPU
 * time, and time from start until every certificate, key and CA file is on
 * disk; and a bare node process as the floor under hak-agent. A script, not
 * a test: it prints medians of RUNS runs (default 3, interleaved) and their
 * ratios. Run: npm run bench:agent
 *   RUNS=3  STEADY_MS=5000  HAK_NODE_FLAGS="--max-semi-space-size=1" (a row with these node flags)
 * consul-template is measured when scripts/build-consul-template.sh built it
 * (CONSUL_TEMPLATE=path overrides); otherwise its rows say so.
 *
 * What differs by design, and is said in the output:
 * - hak-agent generates each key locally and has Vault sign a CSR (`sign`);
 *   pkiCert can only `issue` (Vault makes the key), so bao agent gets a role
 *   and a policy of its own here, which hak never grants to hosts.
 * - hak-agent starts with an AppRole login and obtains its host identity
 *   first (one more certificate); bao agent and consul-template read a
 *   ready token (from a file, from the config).
 * - consul-template renders the same pkiCert templates as bao agent (bao
 *   agent's template engine is consul-template's), without auto-auth or a
 *   cache; it is a single Go binary like bao, but a far smaller one.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, homedir, totalmem, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { findHost, parseInventory } from "../src/common/inventory.js";
import { freePort, startLocalServer } from "../src/common/localbao.js";
import { approleRoleId } from "../src/common/names.js";
import { baoBinary, PROJECT_ROOT } from "../src/common/paths.js";
import { requestSpec } from "../src/common/profiles.js";
import { certFacts } from "../src/common/x509.js";
import { bootstrap } from "../src/pki/bootstrap.js";

const STEADY_MS = Number(process.env.STEADY_MS ?? 5000);
const RUNS = Number(process.env.RUNS ?? 3);
const COUNTS = [1, 10];
const NODE_FLAGS = (process.env.HAK_NODE_FLAGS ?? "").split(" ").filter(Boolean);

/** The consul-template that scripts/build-consul-template.sh builds (the version pinned in build/consul-template/go.mod). */
function consulTemplateBinary(): string | undefined {
  if (process.env.CONSUL_TEMPLATE) return process.env.CONSUL_TEMPLATE;
  const mod = readFileSync(join(PROJECT_ROOT, "build", "consul-template", "go.mod"), "utf8");
  const ver = /github\.com\/hashicorp\/consul-template (v\S+)/.exec(mod)?.[1];
  const bin = join(process.env.HAK_CACHE ?? join(homedir(), ".cache", "hak"), `consul-template-${ver}`, "consul-template");
  return existsSync(bin) ? bin : undefined;
}

const inv = parseInventory({
  name: "bench",
  hostDomain: "k8s.local",
  apiVip: "127.0.33.10",
  serviceCidr: "10.32.0.0/24",
  podCidr: "10.200.0.0/16",
  leafTtl: "24h",
  hosts: [
    { name: "etcd1", role: "etcd", address: "127.0.33.11" },
    { name: "controlplane1", role: "controlplane", address: "127.0.33.21" },
  ],
});
const host = findHost(inv, "etcd1")!;

// hak-agent runs as the installed program does (bin/hak-agent.js on dist/), built from the current source.
{
  const b = spawnSync("npm", ["run", "-s", "build"], { cwd: PROJECT_ROOT, stdio: "inherit" });
  if (b.status !== 0) throw new Error("npm run build failed");
}

const work = mkdtempSync(join(tmpdir(), "hak-bench-agent-"));
const bao = await startLocalServer({ stateDir: join(work, "bao"), port: await freePort(), clusterPort: await freePort() });
const root = bao.client();

interface Measure {
  readyMs: number;
  peakRssMiB: number;
  steadyRssMiB: number;
  cpuSeconds: number;
}

function procStat(pid: number): { rssKiB: number; hwmKiB: number; cpu: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime, stime are fields 14 and 15 (1-based), i.e. 11 and 12 after the command name; clock ticks of 1/100 s.
    return { rssKiB: kib("VmRSS"), hwmKiB: kib("VmHWM"), cpu: (Number(f[11]) + Number(f[12])) / 100 };
  } catch {
    return undefined;
  }
}

function allPresent(files: string[]): boolean {
  return files.every((f) => {
    try {
      const t = readFileSync(f, "utf8");
      if (f.endsWith(".crt")) certFacts(t);
      return t.includes("-----END");
    } catch {
      return false;
    }
  });
}

async function measure(cmd: string, args: string[], files: string[], env: NodeJS.ProcessEnv = process.env): Promise<Measure> {
  if (process.env.BENCH_DEBUG) console.error("measure", cmd, args.join(" "));
  const started = performance.now();
  const p = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"], env });
  let stderr = "";
  p.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-3000)));
  let readyMs = -1;
  while (readyMs < 0) {
    if (p.exitCode !== null) throw new Error(`${cmd} exited ${p.exitCode}:\n${stderr}`);
    if (allPresent(files)) readyMs = performance.now() - started;
    else await sleep(10);
    if (performance.now() - started > 60_000) {
      p.kill("SIGKILL");
      throw new Error(`${cmd}: not every file after 60 s:\n${stderr}`);
    }
  }
  const samples: number[] = [];
  const until = performance.now() + STEADY_MS;
  while (performance.now() < until) {
    const s = procStat(p.pid!);
    if (s) samples.push(s.rssKiB);
    await sleep(100);
  }
  const end = procStat(p.pid!)!;
  p.kill("SIGTERM");
  // consul-template may sit out a retry before it heeds SIGTERM: killed after 3 s.
  const force = setTimeout(() => p.kill("SIGKILL"), 3000);
  await new Promise((r) => p.once("exit", r));
  clearTimeout(force);
  const tail = samples.slice(Math.floor(samples.length / 2));
  return {
    readyMs,
    peakRssMiB: end.hwmKiB / 1024,
    steadyRssMiB: tail.reduce((a, b) => a + b, 0) / tail.length / 1024,
    cpuSeconds: end.cpu,
  };
}

let seq = 0;

async function hakAgent(n: number, nodeFlags: string[] = [], entry = join(PROJECT_ROOT, "bin", "hak-agent.js"), listen = false): Promise<Measure> {
  const dir = join(work, `hak-${n}-${seq++}`);
  mkdirSync(dir, { recursive: true });
  const secret = await root.write<{ secret_id: string }>(`auth/approle/role/${host.name}/secret-id`, {});
  writeFileSync(join(dir, "secret-id"), secret!.data!.secret_id, { mode: 0o600 });
  const spec = requestSpec(inv, "etcd-server", host);
  const idSpec = requestSpec(inv, "host-identity", host);
  const outputs = Array.from({ length: n }, (_, i) => ({
    type: "certificate",
    name: `out${i}`,
    profile: "etcd-server",
    commonName: spec.commonName,
    dns: spec.dns,
    ip: spec.ip,
    certFile: join(dir, `out${i}.crt`),
    keyFile: join(dir, `out${i}.key`),
    caFile: join(dir, `out${i}-ca.crt`),
  }));
  const cfg = {
    host: host.name,
    // As on NixOS hosts (services.hak-agent.listenAddress): /healthz, /readyz and /metrics served.
    ...(listen ? { listen: `127.0.0.1:${await freePort()}` } : {}),
    vault: { addresses: [bao.address], caFile: bao.caFile, sourceAddress: host.address },
    auth: { roleId: approleRoleId(inv.name, host.name), secretIdFile: join(dir, "secret-id") },
    outputs: [
      { type: "certificate", name: "host-identity", profile: "host-identity", commonName: idSpec.commonName, dns: idSpec.dns, ip: idSpec.ip, certFile: join(dir, "id.crt"), keyFile: join(dir, "id.key") },
      ...outputs,
    ],
  };
  writeFileSync(join(dir, "agent.json"), JSON.stringify(cfg));
  const files = outputs.flatMap((o) => [o.certFile, o.keyFile, o.caFile]);
  return measure(process.execPath, [...nodeFlags, entry, "run", join(dir, "agent.json")], files, { ...process.env, HAK_LOG_LEVEL: "warn" });
}

/** The pkiCert templates bao agent and consul-template render: cert, key and CA of n certificates. */
function pkiTemplates(dir: string, n: number): { hcl: string; files: string[] } {
  const files: string[] = [];
  const templates = Array.from({ length: n }, (_, i) => {
    // Same arguments in the three templates: consul-template fetches one certificate for them.
    const call = `pkiCert "pki-etcd/issue/bench-issue" "common_name=${host.name}" "alt_names=out${i}.bench.local" "ttl=24h"`;
    return (["Cert", "Key", "CA"] as const)
      .map((field) => {
        const dest = join(dir, `out${i}.${field === "Cert" ? "crt" : field === "Key" ? "key" : "ca.crt"}`);
        files.push(dest);
        return `template {\n  contents = "{{ with ${call.replaceAll('"', '\\"')} }}{{ .${field} }}{{ end }}"\n  destination = "${dest}"\n  perms = "0600"\n}\n`;
      })
      .join("");
  });
  return { hcl: templates.join(""), files };
}

async function baoAgent(n: number, token: string): Promise<Measure> {
  const dir = join(work, `bao-${n}-${seq++}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "token"), token, { mode: 0o600 });
  const { hcl: templates, files } = pkiTemplates(dir, n);
  const hcl = `vault {\n  address = "${bao.address}"\n  ca_cert = "${bao.caFile}"\n}\nauto_auth {\n  method "token_file" {\n    config = { token_file_path = "${join(dir, "token")}" }\n  }\n}\ntemplate_config {\n  exit_on_retry_failure = true\n}\n${templates}`;
  writeFileSync(join(dir, "agent.hcl"), hcl);
  return measure(baoBinary(), ["agent", `-config=${join(dir, "agent.hcl")}`, "-log-level=warn"], files, { ...process.env, HOME: dir });
}

async function consulTemplate(bin: string, n: number, token: string): Promise<Measure> {
  const dir = join(work, `ct-${n}-${seq++}`);
  mkdirSync(dir, { recursive: true });
  const { hcl: templates, files } = pkiTemplates(dir, n);
  // renew_token off: the token is a plain one made for the run; unwrap off, no Consul (no template asks it).
  const hcl = `vault {\n  address = "${bao.address}"\n  token = "${token}"\n  renew_token = false\n  ssl {\n    enabled = true\n    verify = true\n    ca_cert = "${bao.caFile}"\n  }\n}\n${templates}`;
  writeFileSync(join(dir, "ct.hcl"), hcl, { mode: 0o600 });
  return measure(bin, [`-config=${join(dir, "ct.hcl")}`, "-log-level=warn"], files, { ...process.env, HOME: dir, VAULT_ADDR: "", VAULT_TOKEN: "" });
}

/** A node process that does nothing: the floor under any agent written for node. */
function bareNode(nodeFlags: string[] = []): Promise<Measure> {
  return measure(process.execPath, [...nodeFlags, "-e", "setInterval(() => {}, 1000)"], []);
}

try {
  await bootstrap(root, inv, {});
  // bao agent's pkiCert can only `issue`: a role and policy for it alone, with a token (never granted to hak hosts).
  await root.write("pki-etcd/roles/bench-issue", { allow_any_name: true, enforce_hostnames: false, key_type: "ec", key_bits: 256, ttl: "24h", max_ttl: "24h" });
  await root.write("sys/policies/acl/bench-bao-agent", { policy: 'path "pki-etcd/issue/bench-issue" { capabilities = ["update"] }' });
  const tok = await root.write("auth/token/create", { policies: ["bench-bao-agent"], ttl: "1h" });
  const token = tok!.auth!.client_token;

  const ct = consulTemplateBinary();
  type Row = { n: number; name: string; runs: Measure[] };
  const rows: Row[] = [];
  const row = (n: number, name: string) => {
    let r = rows.find((x) => x.n === n && x.name === name);
    if (!r) rows.push((r = { n, name, runs: [] }));
    return r;
  };
  const flagged = NODE_FLAGS.length > 0 ? `hak-agent ${NODE_FLAGS.join(" ")}` : undefined;
  for (let run = 0; run < RUNS; run++) {
    // Interleaved, so the other load on the machine falls on every contender alike.
    for (const n of COUNTS) {
      row(n, "hak-agent").runs.push(await hakAgent(n));
      row(n, "hak-agent, listen (as on NixOS)").runs.push(await hakAgent(n, [], undefined, true));
      if (flagged) row(n, flagged).runs.push(await hakAgent(n, NODE_FLAGS));
      row(n, "hak-agent (unbundled)").runs.push(await hakAgent(n, [], join(PROJECT_ROOT, "bench", "hak-agent-unbundled.mjs")));
      row(n, "bao agent").runs.push(await baoAgent(n, token));
      if (ct) row(n, "consul-template").runs.push(await consulTemplate(ct, n, token));
    }
    row(0, "bare node").runs.push(await bareNode());
    if (flagged) row(0, `bare node ${NODE_FLAGS.join(" ")}`).runs.push(await bareNode(NODE_FLAGS));
  }

  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const m = (r: Row): Measure => ({
    readyMs: med(r.runs.map((x) => x.readyMs)),
    peakRssMiB: med(r.runs.map((x) => x.peakRssMiB)),
    steadyRssMiB: med(r.runs.map((x) => x.steadyRssMiB)),
    cpuSeconds: med(r.runs.map((x) => x.cpuSeconds)),
  });
  const f = (x: number, d = 1) => x.toFixed(d);
  const ctVersion = ct ? spawnSync(ct, ["-version"]).stderr.toString().trim() || spawnSync(ct, ["-version"]).stdout.toString().trim() : "not built (scripts/build-consul-template.sh)";
  console.log(`hak-agent vs bao agent (${spawnSync(baoBinary(), ["version"]).stdout.toString().trim()}) and consul-template (${ctVersion})`);
  console.log(`node ${process.version}, ${cpus().length} cores, ${f(totalmem() / 2 ** 30, 0)} GiB; medians of ${RUNS} interleaved runs; steady RSS over the last half of ${STEADY_MS / 1000}s after all files were on disk`);
  console.log("outputs  agent                                  ready(ms)  peakRSS(MiB)  steadyRSS(MiB)  CPU(s)");
  for (const r of rows) {
    const x = m(r);
    console.log(`${String(r.n || "-").padStart(7)}  ${r.name.padEnd(37)}  ${r.n ? f(x.readyMs, 0).padStart(9) : "-".padStart(9)}  ${f(x.peakRssMiB).padStart(12)}  ${f(x.steadyRssMiB).padStart(14)}  ${f(x.cpuSeconds, 2).padStart(6)}   (runs: ${r.runs.map((y) => `${f(y.steadyRssMiB, 0)}MiB/${f(y.cpuSeconds, 2)}s`).join(" ")})`);
  }
  const ratio = (a: Measure, b: Measure) =>
    `ready ${f(a.readyMs / b.readyMs, 2)}x  peak RSS ${f(a.peakRssMiB / b.peakRssMiB, 2)}x  steady RSS ${f(a.steadyRssMiB / b.steadyRssMiB, 2)}x  CPU ${f(a.cpuSeconds / Math.max(b.cpuSeconds, 0.01), 2)}x`;
  console.log("ratios (goals against bao agent: steady RSS <= 0.6x, ready <= 1.0x, CPU <= 1.5x):");
  for (const n of COUNTS) {
    const bao1 = m(row(n, "bao agent"));
    for (const name of ["hak-agent", "hak-agent, listen (as on NixOS)", ...(flagged ? [flagged] : []), "hak-agent (unbundled)", ...(ct ? ["consul-template"] : [])]) {
      console.log(`${String(n).padStart(7)}  ${`${name} / bao agent`.padEnd(50)}  ${ratio(m(row(n, name)), bao1)}`);
    }
    if (ct) console.log(`${String(n).padStart(7)}  ${"hak-agent / consul-template".padEnd(50)}  ${ratio(m(row(n, "hak-agent")), m(row(n, "consul-template")))}`);
  }
  const floor = m(row(0, "bare node"));
  console.log(`floor: a bare node process holds ${f(floor.steadyRssMiB)} MiB (${f(floor.steadyRssMiB / m(row(1, "bao agent")).steadyRssMiB, 2)}x bao agent's steady RSS) and uses ${f(floor.cpuSeconds, 2)} s CPU to start`);
  console.log("hak-agent also logs in with AppRole and obtains its host identity first (one more certificate) and makes each key locally (sign); bao agent and consul-template start from a token and use `issue` (key made by Vault).");
} finally {
  await root.close();
  await bao.stop();
  rmSync(work, { recursive: true, force: true });
}
