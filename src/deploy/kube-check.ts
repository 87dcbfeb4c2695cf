import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parse as parseYaml, stringify } from "yaml";
import { errorMessage } from "../common/errors.js";
import type { Inventory } from "../common/inventory.js";
import { kubectl, lastLine, nodeReady, type Kubectl, type KubeNode } from "./kubectl.js";

/**
 * The seed's check.sh, against the Kubernetes API with an operator
 * kubeconfig (the local cluster's or a real one's; same code): every node
 * of the inventory Ready; a pod of the given image on each worker;
 * `kubectl logs` and `kubectl exec` (the apiserver reaching each kubelet
 * over its kubelet-serving certificate, which it verifies against the
 * kubernetes CA: --kubelet-certificate-authority); from a pod, a Service
 * name resolved through CoreDNS, answered by a pod on another worker; a
 * pod's service account token authenticating to the apiserver. Everything
 * it creates lives in one namespace, deleted at the end.
 */

export type KubeCheckName = "node" | "pod" | "logs" | "exec" | "dns" | "service" | "service-account";

export interface KubeCheckItem {
  host: string;
  check: KubeCheckName;
  ok: boolean;
  detail: string;
}

export interface KubeCheckOptions {
  kubectl: Kubectl;
  /** The test image (the locally built busybox, or any image with sh, httpd, wget, nslookup). */
  image: string;
  /** Namespace to create (and delete); a fresh name per run. */
  namespace: string;
  keep?: boolean;
  timeoutMs?: number;
  onProgress?: (host: string, message: string) => void;
}

const POD_PORT = 8080;

export function checkPodManifest(ns: string, worker: string, image: string): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: `hak-check-${worker}`, namespace: ns, labels: { app: "hak-check", "hak.dev/worker": worker } },
    spec: {
      nodeSelector: { "kubernetes.io/hostname": worker },
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: "check",
          image,
          imagePullPolicy: "IfNotPresent",
          command: ["sh", "-c", `mkdir -p /www && echo "hak-check on ${worker}" > /www/index.html && echo "hak-check started on ${worker}" && exec httpd -f -p ${POD_PORT} -h /www`],
          ports: [{ containerPort: POD_PORT }],
        },
      ],
    },
  };
}

export function checkServiceManifest(ns: string, worker: string): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: `hak-check-${worker}`, namespace: ns },
    spec: { selector: { app: "hak-check", "hak.dev/worker": worker }, ports: [{ port: 80, targetPort: POD_PORT }] },
  };
}

/** Pairs each worker with the next one (the last with the first): the Service asked from a pod is backed by a pod elsewhere. */
export function peerOf(workers: readonly string[], w: string): string {
  const i = workers.indexOf(w);
  return workers[(i + 1) % workers.length]!;
}

interface PodState {
  status?: { phase?: string; containerStatuses?: { ready?: boolean; restartCount?: number; state?: Record<string, { reason?: string; message?: string }> }[] };
  spec?: { nodeName?: string };
}

function podProblem(p: PodState): string {
  const cs = p.status?.containerStatuses?.[0];
  const waiting = cs?.state?.waiting;
  if (waiting) return `${waiting.reason ?? "waiting"}${waiting.message ? `: ${waiting.message}` : ""}`;
  return p.status?.phase ?? "no status";
}

/** A kubeconfig with the cluster of `base` and only a bearer token as user (so nothing else authenticates the request). */
export function tokenKubeconfig(baseYaml: string, token: string): string {
  const base = parseYaml(baseYaml) as { clusters: { name: string; cluster: Record<string, unknown> }[]; "current-context"?: string; contexts?: { name: string; context: { cluster: string } }[] };
  const ctx = base.contexts?.find((c) => c.name === base["current-context"]) ?? base.contexts?.[0];
  const cluster = base.clusters.find((c) => c.name === ctx?.context.cluster) ?? base.clusters[0]!;
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [cluster],
    users: [{ name: "sa", user: { token } }],
    contexts: [{ name: "sa", context: { cluster: cluster.name, user: "sa" } }],
    "current-context": "sa",
  });
}

/** The addresses of the answer in busybox/bind nslookup output (after "Name:", so not the server's own). */
export function answerAddresses(out: string): string[] {
  const i = out.indexOf("Name:");
  if (i < 0) return [];
  return [...out.slice(i).matchAll(/Address(?: \d+)?:\s*([0-9a-fA-F:.]+)/g)].map((m) => m[1]!);
}

export async function checkKubernetes(inv: Inventory, o: KubeCheckOptions): Promise<KubeCheckItem[]> {
  const items: KubeCheckItem[] = [];
  const k = o.kubectl;
  const add = (host: string, check: KubeCheckName, ok: boolean, detail: string) => {
    items.push({ host, check, ok, detail });
    o.onProgress?.(host, `${check}: ${ok ? "ok" : "FAILED"} ${detail}`);
  };
  const timeout = o.timeoutMs ?? 180_000;

  // 1. Nodes.
  const nodeHosts = inv.hosts.filter((h) => h.role === "controlplane" || h.role === "worker");
  let nodes: KubeNode[] = [];
  try {
    nodes = (await k.json<{ items: KubeNode[] }>(["get", "nodes"])).items;
  } catch (err) {
    add("cluster", "node", false, `cannot list nodes: ${errorMessage(err)}`);
    return items;
  }
  for (const h of nodeHosts) {
    const n = nodes.find((x) => x.metadata.name === h.name);
    if (!n) add(h.name, "node", false, "not registered");
    else {
      const ready = (n.status.conditions ?? []).find((c) => c.type === "Ready");
      add(h.name, "node", nodeReady(n), nodeReady(n) ? `Ready (${n.status.addresses?.find((a) => a.type === "InternalIP")?.address ?? "?"})` : `not Ready: ${ready?.reason ?? "no Ready condition"} ${ready?.message ?? ""}`.trim());
    }
  }

  // 2. A pod on each worker, with a Service of its own.
  const workers = inv.hosts.filter((h) => h.role === "worker").map((h) => h.name);
  if (workers.length === 0) return items;
  const ns = o.namespace;
  const docs = [{ apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels: { "hak.dev/check": "true" } } }, ...workers.flatMap((w) => [checkPodManifest(ns, w, o.image), checkServiceManifest(ns, w)])];
  try {
    const applied = await k.run(["apply", "-f", "-"], { input: docs.map((d) => `---\n${stringify(d)}`).join("") });
    if (applied.code !== 0) {
      add("cluster", "pod", false, `cannot create the check pods: ${lastLine(applied.stderr)}`);
      return items;
    }
    const running = new Set<string>();
    const deadline = Date.now() + timeout;
    const last = new Map<string, string>();
    while (running.size < workers.length && Date.now() < deadline) {
      for (const w of workers) {
        if (running.has(w)) continue;
        try {
          const p = await k.json<PodState>(["-n", ns, "get", "pod", `hak-check-${w}`]);
          const cs = p.status?.containerStatuses?.[0];
          if (p.status?.phase === "Running" && cs?.ready) running.add(w);
          else last.set(w, podProblem(p));
        } catch (err) {
          last.set(w, errorMessage(err));
        }
      }
      if (running.size < workers.length) await sleep(1000);
    }
    for (const w of workers) add(w, "pod", running.has(w), running.has(w) ? `hak-check-${w} (${o.image}) Running on ${w}` : `hak-check-${w} not running after ${Math.round(timeout / 1000)}s: ${last.get(w) ?? "?"}`);

    // 3. logs and exec through each worker's kubelet.
    for (const w of workers.filter((x) => running.has(x))) {
      const logs = await k.run(["-n", ns, "logs", `hak-check-${w}`], { timeoutMs: 30_000 });
      add(w, "logs", logs.code === 0 && logs.stdout.includes(`hak-check started on ${w}`), logs.code === 0 ? `kubectl logs: ${JSON.stringify(logs.stdout.trim().split("\n")[0] ?? "")}` : `kubectl logs: ${lastLine(logs.stderr)}`);
      const ex = await k.run(["-n", ns, "exec", `hak-check-${w}`, "--", "cat", "/www/index.html"], { timeoutMs: 30_000 });
      add(w, "exec", ex.code === 0 && ex.stdout.includes(`hak-check on ${w}`), ex.code === 0 ? `kubectl exec: ${JSON.stringify(ex.stdout.trim())} (apiserver -> kubelet-serving, verified with the kubernetes CA)` : `kubectl exec: ${lastLine(ex.stderr)}`);
    }

    // 4. From each worker's pod: the other worker's Service by name (CoreDNS), answered by the pod there.
    for (const w of workers.filter((x) => running.has(x))) {
      const peer = peerOf(workers, w);
      const name = `hak-check-${peer}.${ns}.svc.${inv.clusterDomain}`;
      let resolved = false;
      let detail = "";
      let address = "";
      for (let i = 0; i < 10 && !resolved; i++) {
        const r = await k.run(["-n", ns, "exec", `hak-check-${w}`, "--", "nslookup", name], { timeoutMs: 20_000 });
        const found = answerAddresses(r.stdout);
        resolved = r.code === 0 && found.length > 0;
        address = found[found.length - 1] ?? "";
        detail = resolved ? `${name} -> ${found[found.length - 1]}` : `nslookup ${name}: ${lastLine(r.stdout + r.stderr)}`;
        if (!resolved) await sleep(2000);
      }
      add(w, "dns", resolved, detail);
      if (!resolved) {
        add(w, "service", false, `not tried: ${name} did not resolve`);
        continue;
      }
      // The address CoreDNS gave (a static busybox cannot resolve names itself: no NSS in the image). No -T:
      // Debian busybox-static 1.35 wget crashes with it; the kubectl timeout bounds the call.
      let answered = false;
      for (let i = 0; i < 10 && !answered; i++) {
        const r = await k.run(["-n", ns, "exec", `hak-check-${w}`, "--", "wget", "-qO-", "--header", `Host: ${name}`, `http://${address}/`], { timeoutMs: 20_000 });
        answered = r.code === 0 && r.stdout.includes(`hak-check on ${peer}`);
        detail = answered ? `${name} (${address}) answered by the pod on ${peer}: ${JSON.stringify(r.stdout.trim())}` : `wget http://${address}/ (${name}): ${lastLine(r.stdout + r.stderr) || `exit ${r.code}`}`;
        if (!answered) await sleep(2000);
      }
      add(w, "service", answered, detail);
    }

    // 5. The pod's service account token authenticates (signed with the service-account key the agents hold).
    const first = workers.find((x) => running.has(x));
    if (first) {
      const tok = await k.run(["-n", ns, "exec", `hak-check-${first}`, "--", "cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"], { timeoutMs: 20_000 });
      if (tok.code !== 0 || tok.stdout.trim() === "") add(first, "service-account", false, `no token in the pod: ${lastLine(tok.stderr)}`);
      else {
        const view = await k.run(["config", "view", "--raw", "--minify"]);
        const dir = mkdtempSync(join(tmpdir(), "hak-check-"));
        try {
          const file = join(dir, "sa.conf");
          writeFileSync(file, tokenKubeconfig(view.stdout, tok.stdout.trim()), { mode: 0o600 });
          const who = await kubectl(k.binary, file).run(["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"], { timeoutMs: 20_000 });
          const want = `system:serviceaccount:${ns}:default`;
          add(first, "service-account", who.code === 0 && who.stdout.trim() === want, who.code === 0 ? `the pod's token is ${who.stdout.trim()}` : `the pod's token does not authenticate: ${lastLine(who.stderr)}`);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
    }
  } finally {
    if (!o.keep) await k.run(["delete", "namespace", ns, "--wait=false", "--ignore-not-found"]);
  }
  return items;
}
