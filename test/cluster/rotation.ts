import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Agent, request } from "undici";
import { parse, stringify } from "yaml";
import type { Inventory } from "../../src/common/inventory.js";
import { certFacts } from "../../src/common/x509.js";
import type { HostStatus } from "../../src/cluster/units.js";
import { tokenKubeconfig } from "../../src/deploy/kube-check.js";
import { kubectl, nodeReady, type Kubectl, type KubeNode } from "../../src/deploy/kubectl.js";

/**
 * Rotation under load, on a local cluster started with short leaves: a
 * client calls the API through the load balancers' virtual IP every 100 ms
 * and runs `kubectl exec` every few seconds, while every certificate of the
 * cluster is renewed by the agents; nodes are sampled for Ready and the
 * pod's restart count read at the end. The client authenticates with a
 * service account token (the service-account key pair does not rotate), so
 * what rotates under it is everything on the path: haproxy's backends, the
 * apiservers' serving certificates, their etcd and kubelet clients.
 */

export interface RotationResult {
  failures: string[];
  summary: {
    seconds: number;
    requests: number;
    execs: number;
    /** Per certificate file (host/file): how many times it was replaced. */
    rotations: Record<string, number>;
    minRotations: number;
    notReadySamples: number;
    podRestarts: number;
    /** Per host/unit: restarts the agent asked for, signals, crashes. */
    units: Record<string, { requested: number; signals: number; crashed: number }>;
  };
}

function leafSerials(stateDir: string): Map<string, string> {
  const out = new Map<string, string>();
  const hosts = join(stateDir, "cluster", "hosts");
  for (const h of readdirSync(hosts)) {
    const dir = join(hosts, h, "var", "lib", "hak-agent", "certs");
    let files: string[] = [];
    try {
      files = readdirSync(dir).filter((f) => f.endsWith(".crt") && !f.endsWith("-ca.crt") && !f.endsWith(".ca.crt"));
    } catch {
      continue;
    }
    for (const f of files) {
      try {
        const facts = certFacts(readFileSync(join(dir, f), "utf8"));
        if (!facts.isCa) out.set(`${h}/${f}`, facts.serial);
      } catch {
        /* being replaced: next sample */
      }
    }
  }
  return out;
}

function unitStatus(stateDir: string, host: string): HostStatus | undefined {
  try {
    return JSON.parse(readFileSync(join(stateDir, "cluster", "run", `${host}.status.json`), "utf8")) as HostStatus;
  } catch {
    return undefined;
  }
}

export async function rotationUnderLoad(o: { stateDir: string; admin: Kubectl; inventory: Inventory; minutes: number }): Promise<RotationResult> {
  const failures: string[] = [];
  const ns = "e2e-rotation";
  const a = o.admin;
  await a.run(["create", "namespace", ns]);
  await a.run(["-n", ns, "create", "serviceaccount", "load"]);
  await a.run(["-n", ns, "create", "rolebinding", "load", "--clusterrole=admin", `--serviceaccount=${ns}:load`]);
  await a.run(["create", "clusterrole", "hak-e2e-load-nodes", "--verb=get,list", "--resource=nodes"]);
  await a.run(["create", "clusterrolebinding", "hak-e2e-load-nodes", "--clusterrole=hak-e2e-load-nodes", `--serviceaccount=${ns}:load`]);
  const pod = stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "target", namespace: ns },
    spec: { nodeSelector: { "kubernetes.io/hostname": "worker1" }, containers: [{ name: "c", image: "hak.local/busybox:1.35", imagePullPolicy: "IfNotPresent", command: ["sleep", "86400"] }] },
  });
  // From here on the service account: the operator's certificate lives 2 minutes too.
  const token = (await a.run(["-n", ns, "create", "token", "load", "--duration=2h"])).stdout.trim();
  if (!token) throw new Error("no token for the load client");
  const view = parse((await a.run(["config", "view", "--raw", "--minify"])).stdout) as { clusters: { cluster: { server: string; "certificate-authority-data": string } }[] };
  const server = view.clusters[0]!.cluster.server;
  const ca = Buffer.from(view.clusters[0]!.cluster["certificate-authority-data"], "base64").toString("utf8");
  const dir = mkdtempSync(join(tmpdir(), "hak-rot-"));
  const saConf = join(dir, "sa.conf");
  writeFileSync(saConf, tokenKubeconfig((await a.run(["config", "view", "--raw", "--minify"])).stdout, token), { mode: 0o600 });
  const sa = kubectl(a.binary, saConf);
  const applied = await sa.run(["apply", "-f", "-"], { input: pod });
  if (applied.code !== 0) throw new Error(`target pod: ${applied.stderr}`);
  await sa.run(["-n", ns, "wait", "--for=condition=Ready", "pod/target", "--timeout=180s"], { timeoutMs: 200_000 });

  const started = Date.now();
  const end = started + o.minutes * 60_000;
  const seen = new Map<string, Set<string>>();
  const sample = () => {
    for (const [k, s] of leafSerials(o.stateDir)) {
      if (!seen.has(k)) seen.set(k, new Set());
      seen.get(k)!.add(s);
    }
  };
  const before = new Map(o.inventory.hosts.map((h) => [h.name, unitStatus(o.stateDir, h.name)]));
  let requests = 0;
  let execs = 0;
  let notReady = 0;
  // A fresh connection per request, as separate clients would make: each one meets the serving certificate in force.
  const loop = async () => {
    while (Date.now() < end) {
      const t = Date.now();
      const agent = new Agent({ connect: { ca, servername: undefined }, pipelining: 0 });
      try {
        const r = await request(`${server}/api/v1/namespaces/${ns}/pods/target`, { headers: { authorization: `Bearer ${token}` }, dispatcher: agent, headersTimeout: 5000, bodyTimeout: 5000 });
        const body = await r.body.text();
        if (r.statusCode !== 200) failures.push(`${new Date().toISOString()} GET pod: HTTP ${r.statusCode} ${body.slice(0, 200)}`);
      } catch (err) {
        failures.push(`${new Date().toISOString()} GET pod: ${(err as Error).message}`);
      } finally {
        await agent.close();
      }
      requests++;
      await sleep(Math.max(0, 100 - (Date.now() - t)));
    }
  };
  const execLoop = async () => {
    while (Date.now() < end) {
      const r = await sa.run(["-n", ns, "exec", "target", "--", "echo", "alive"], { timeoutMs: 30_000 });
      execs++;
      if (r.code !== 0 || r.stdout.trim() !== "alive") failures.push(`${new Date().toISOString()} kubectl exec: ${r.stderr.trim().split("\n").pop()}`);
      await sleep(3000);
    }
  };
  const watchLoop = async () => {
    while (Date.now() < end) {
      sample();
      try {
        const nodes = await sa.json<{ items: KubeNode[] }>(["get", "nodes"]);
        const bad = nodes.items.filter((n) => !nodeReady(n));
        if (bad.length > 0) {
          notReady++;
          failures.push(`${new Date().toISOString()} not Ready: ${bad.map((n) => n.metadata.name).join(", ")}`);
        }
      } catch (err) {
        failures.push(`${new Date().toISOString()} get nodes: ${(err as Error).message}`);
      }
      await sleep(5000);
    }
  };
  await Promise.all([loop(), execLoop(), watchLoop()]);
  sample();
  let restarts = -1;
  // The API may be between restarts right now: a few tries.
  for (let i = 0; i < 10 && restarts < 0; i++) {
    const out = (await sa.run(["-n", ns, "get", "pod", "target", "-o", "jsonpath={.status.containerStatuses[0].restartCount}"])).stdout.trim();
    if (/^\d+$/.test(out)) restarts = Number(out);
    else await sleep(3000);
  }
  const units: RotationResult["summary"]["units"] = {};
  for (const h of o.inventory.hosts) {
    const now = unitStatus(o.stateDir, h.name);
    const was = before.get(h.name);
    for (const u of now?.units ?? []) {
      const p = was?.units.find((x) => x.name === u.name);
      units[`${h.name}/${u.name}`] = {
        requested: u.restarts.requested - (p?.restarts.requested ?? 0),
        signals: u.signals - (p?.signals ?? 0),
        crashed: u.restarts.crashed - (p?.restarts.crashed ?? 0),
      };
    }
  }
  const rotations = Object.fromEntries([...seen].map(([k, s]) => [k, s.size - 1]));
  rmSync(dir, { recursive: true, force: true });
  await sa.run(["delete", "pod", "-n", ns, "target", "--wait=false"]);
  return {
    failures,
    summary: {
      seconds: Math.round((Date.now() - started) / 1000),
      requests,
      execs,
      rotations,
      minRotations: Math.min(...Object.values(rotations)),
      notReadySamples: notReady,
      podRestarts: restarts,
      units,
    },
  };
}
