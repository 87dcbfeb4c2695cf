/**
 * hak-agent next to OpenBao's own agent (`bao agent` with pkiCert templates)
 * against the same real OpenBao (TLS, raft), for 1 and 10 certificate
 * outputs: peak and steady RSS, CPU time, and time from start until every
 * certificate, key and CA file is on disk. A script, not a test: it prints
 * the figures of one run and their ratios. Run: npm run bench:agent
 *
 * What differs by design, and is said in the output:
 * - hak-agent generates each key locally and has Vault sign a CSR (`sign`);
 *   pkiCert can only `issue` (Vault makes the key), so bao agent gets a role
 *   and a policy of its own here, which hak never grants to hosts.
 * - hak-agent starts with an AppRole login and obtains its host identity
 *   first (one more certificate); bao agent reads a ready token from a file.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
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
const COUNTS = [1, 10];

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
  const started = performance.now();
  const p = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"], env });
  let stderr = "";
  p.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-3000)));
  let readyMs = -1;
  while (readyMs < 0) {
    if (p.exitCode !== null) throw new Error(`${cmd} exited ${p.exitCode}:\n${stderr}`);
    if (allPresent(files)) readyMs = performance.now() - started;
    else await sleep(10);
    if (performance.now() - started > 60_000) throw new Error(`${cmd}: not every file after 60 s:\n${stderr}`);
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
  await new Promise((r) => p.once("exit", r));
  const tail = samples.slice(Math.floor(samples.length / 2));
  return {
    readyMs,
    peakRssMiB: end.hwmKiB / 1024,
    steadyRssMiB: tail.reduce((a, b) => a + b, 0) / tail.length / 1024,
    cpuSeconds: end.cpu,
  };
}

async function hakAgent(n: number): Promise<Measure> {
  const dir = join(work, `hak-${n}`);
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
    vault: { addresses: [bao.address], caFile: bao.caFile, sourceAddress: host.address },
    auth: { roleId: approleRoleId(inv.name, host.name), secretIdFile: join(dir, "secret-id") },
    outputs: [
      { type: "certificate", name: "host-identity", profile: "host-identity", commonName: idSpec.commonName, dns: idSpec.dns, ip: idSpec.ip, certFile: join(dir, "id.crt"), keyFile: join(dir, "id.key") },
      ...outputs,
    ],
  };
  writeFileSync(join(dir, "agent.json"), JSON.stringify(cfg));
  const files = outputs.flatMap((o) => [o.certFile, o.keyFile, o.caFile]);
  return measure(process.execPath, [join(PROJECT_ROOT, "bin", "hak-agent.js"), "run", join(dir, "agent.json")], files, { ...process.env, HAK_LOG_LEVEL: "warn" });
}

async function baoAgent(n: number, token: string): Promise<Measure> {
  const dir = join(work, `bao-${n}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "token"), token, { mode: 0o600 });
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
  const hcl = `vault {\n  address = "${bao.address}"\n  ca_cert = "${bao.caFile}"\n}\nauto_auth {\n  method "token_file" {\n    config = { token_file_path = "${join(dir, "token")}" }\n  }\n}\ntemplate_config {\n  exit_on_retry_failure = true\n}\n${templates.join("")}`;
  writeFileSync(join(dir, "agent.hcl"), hcl);
  return measure(baoBinary(), ["agent", `-config=${join(dir, "agent.hcl")}`, "-log-level=warn"], files, { ...process.env, HOME: dir });
}

try {
  await bootstrap(root, inv, {});
  // bao agent's pkiCert can only `issue`: a role and policy for it alone, with a token (never granted to hak hosts).
  await root.write("pki-etcd/roles/bench-issue", { allow_any_name: true, enforce_hostnames: false, key_type: "ec", key_bits: 256, ttl: "24h", max_ttl: "24h" });
  await root.write("sys/policies/acl/bench-bao-agent", { policy: 'path "pki-etcd/issue/bench-issue" { capabilities = ["update"] }' });
  const tok = await root.write("auth/token/create", { policies: ["bench-bao-agent"], ttl: "1h" });
  const token = tok!.auth!.client_token;

  const rows: { n: number; hak: Measure; bao: Measure }[] = [];
  for (const n of COUNTS) rows.push({ n, hak: await hakAgent(n), bao: await baoAgent(n, token) });

  const f = (x: number, d = 1) => x.toFixed(d);
  console.log(`hak-agent vs bao agent (${spawnSync(baoBinary(), ["version"]).stdout.toString().trim()}), node ${process.version}, one run each, steady RSS over ${STEADY_MS / 1000}s after all files were on disk`);
  console.log("outputs  agent      ready(ms)  peakRSS(MiB)  steadyRSS(MiB)  CPU(s)");
  for (const r of rows) {
    for (const [name, m] of [["hak-agent", r.hak], ["bao agent", r.bao]] as const)
      console.log(`${String(r.n).padStart(7)}  ${name.padEnd(9)}  ${f(m.readyMs, 0).padStart(9)}  ${f(m.peakRssMiB).padStart(12)}  ${f(m.steadyRssMiB).padStart(14)}  ${f(m.cpuSeconds, 2).padStart(6)}`);
  }
  console.log("ratios hak-agent / bao agent:");
  for (const r of rows) {
    console.log(
      `${String(r.n).padStart(7)}  ready ${f(r.hak.readyMs / r.bao.readyMs, 2)}x  peak RSS ${f(r.hak.peakRssMiB / r.bao.peakRssMiB, 2)}x  steady RSS ${f(r.hak.steadyRssMiB / r.bao.steadyRssMiB, 2)}x  CPU ${f(r.hak.cpuSeconds / Math.max(r.bao.cpuSeconds, 0.01), 2)}x`,
    );
  }
  console.log("hak-agent also logs in with AppRole and obtains its host identity first (one more certificate); bao agent starts from a token file and uses `issue` (key made by Vault).");
} finally {
  await root.close();
  await bao.stop();
  rmSync(work, { recursive: true, force: true });
}
