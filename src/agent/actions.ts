import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import type { ActionConfig } from "./config.js";

/**
 * What runs after an output changed. systemctl is called by name (PATH), so
 * on NixOS the unit's `path` decides which systemd it is; commands run
 * without a shell. Every run has a timeout and never throws: the result is
 * logged and counted by the caller.
 */

type ProcessAction = Exclude<ActionConfig, { type: "http-get" }>;
export type HttpGetAction = Extract<ActionConfig, { type: "http-get" }>;

export function actionArgv(a: ProcessAction): string[] {
  switch (a.type) {
    case "reload-or-restart":
      return ["systemctl", "reload-or-restart", a.unit];
    case "restart":
      return ["systemctl", "restart", a.unit];
    case "signal":
      return ["systemctl", "kill", "-s", a.signal, a.unit];
    case "command":
      return a.argv;
  }
}

/** Actions that do the same thing are one (the debouncer's key); the timeout does not make them different. */
export function actionKey(a: ActionConfig): string {
  return a.type === "http-get" ? `http-get\u0000${a.url}` : actionArgv(a).join("\u0000");
}

export function actionLabel(a: ActionConfig): string {
  return a.type === "command" ? `command ${a.argv[0]}` : a.type === "http-get" ? `http-get ${new URL(a.url).pathname}` : `${a.type} ${a.unit}`;
}

export interface ActionResult {
  ok: boolean;
  code: number | null;
  timedOut: boolean;
  /** Last lines of stderr, for the log. */
  stderr: string;
  error?: string;
}

export function runAction(a: ActionConfig): Promise<ActionResult> {
  if (a.type === "http-get") return httpGetBurst(a);
  const [cmd, ...args] = actionArgv(a);
  return new Promise((resolve) => {
    let stderr = "";
    let timedOut = false;
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(cmd!, args, { stdio: ["ignore", "ignore", "pipe"] });
    } catch (err) {
      resolve({ ok: false, code: null, timedOut: false, stderr: "", error: (err as Error).message });
      return;
    }
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, a.timeout * 1000);
    child.stderr?.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    child.on("error", (err) => {
      clearTimeout(timer);
      resolve({ ok: false, code: null, timedOut, stderr, error: err.message });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ ok: code === 0 && !timedOut, code, timedOut, stderr: stderr.trim() });
    });
  });
}

const BURST_EVERY_MS = 20;

/**
 * GETs the URL with the client pair, once or every 20 ms for `burst`
 * seconds; ok when every call got an HTTP answer, whatever its status.
 *
 * What it is for: an apiserver re-reads its kubelet client pair for each new
 * connection (client-go's ReloadTLSFiles, cached for a second), and when it
 * meets a changed pair it closes every connection of that transport, the one
 * in its handshake included (transport/cert_rotation.go). Whichever request
 * makes that first handshake after a renewal fails: without this, the first
 * `kubectl exec` after each renewal. The agent makes those handshakes itself
 * (a node-proxy GET to its own kubelet), right after the write and for
 * longer than the loader's cache, so the change is met by its own calls. As
 * upgrade requests: a plain GET rides the apiserver's pooled kubelet
 * connection and makes no handshake; for an upgrade the apiserver dials anew.
 */
export async function httpGetBurst(a: HttpGetAction): Promise<ActionResult> {
  let tls: { ca: string; cert: string; key: string };
  try {
    tls = { ca: readFileSync(a.caFile, "utf8"), cert: readFileSync(a.certFile, "utf8"), key: readFileSync(a.keyFile, "utf8") };
  } catch (err) {
    return { ok: false, code: null, timedOut: false, stderr: "", error: `cannot read ${(err as NodeJS.ErrnoException).path ?? "a file"}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
  const until = Date.now() + a.burst * 1000;
  const deadline = Date.now() + a.timeout * 1000;
  let lastError: string | undefined;
  let answered = 0;
  do {
    const started = Date.now();
    const err = await getOnce(a.url, tls, a.upgrade, Math.max(1, deadline - started));
    if (err) lastError = err;
    else answered++;
    const wait = BURST_EVERY_MS - (Date.now() - started);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  } while (Date.now() < until && Date.now() < deadline);
  return { ok: lastError === undefined, code: null, timedOut: Date.now() >= deadline && answered === 0, stderr: "", ...(lastError ? { error: `${answered} answered; last error: ${lastError}` } : {}) };
}

/** One GET on a new connection (agent: false): undefined when an HTTP answer came, else the error. */
function getOnce(url: string, tls: { ca: string; cert: string; key: string }, upgrade: boolean, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const headers = upgrade ? { connection: "Upgrade", upgrade: "SPDY/3.1" } : {};
    const req = httpsRequest(url, { method: "GET", headers, ...tls, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on("end", () => resolve(undefined));
      res.on("error", (e) => resolve(e.message));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on("error", (e) => resolve(e.message));
    req.end();
  });
}
