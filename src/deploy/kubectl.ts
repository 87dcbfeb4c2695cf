import { spawn } from "node:child_process";

/**
 * kubectl as hak's Kubernetes client: the operator has it wherever it has a
 * kubeconfig, and it speaks every API hak needs (apply, logs, exec over
 * websockets) the way Kubernetes' own tools do. Never a shell: argv only.
 */

export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Kubectl {
  binary: string;
  kubeconfig: string;
  run(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<KubectlResult>;
  json<T>(args: string[]): Promise<T>;
}

export function kubectl(binary: string, kubeconfig: string): Kubectl {
  const run = (args: string[], opts: { input?: string; timeoutMs?: number } = {}) =>
    new Promise<KubectlResult>((resolve) => {
      const child = spawn(binary, [`--kubeconfig=${kubeconfig}`, ...args], { stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      const t = setTimeout(() => {
        stderr += `\n(killed after ${(opts.timeoutMs ?? 60_000) / 1000}s)`;
        child.kill("SIGKILL");
      }, opts.timeoutMs ?? 60_000);
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.on("error", (err) => {
        clearTimeout(t);
        resolve({ code: null, stdout, stderr: `${stderr}${err.message}` });
      });
      child.on("close", (code) => {
        clearTimeout(t);
        resolve({ code, stdout, stderr });
      });
      child.stdin.end(opts.input ?? "");
    });
  return {
    binary,
    kubeconfig,
    run,
    async json<T>(args: string[]): Promise<T> {
      const r = await run([...args, "-o", "json"]);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")}: ${lastLine(r.stderr) || `exit ${r.code}`}`);
      return JSON.parse(r.stdout) as T;
    },
  };
}

export function lastLine(text: string): string {
  return text.trim().split("\n").filter(Boolean).pop() ?? "";
}

export interface NodeCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
export interface KubeNode {
  metadata: { name: string; labels?: Record<string, string> };
  spec: { taints?: { key: string; effect: string }[]; podCIDR?: string };
  status: { conditions?: NodeCondition[]; addresses?: { type: string; address: string }[] };
}

export function nodeReady(n: KubeNode): boolean {
  return (n.status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
}
