import { spawn } from "node:child_process";
import type { ActionConfig } from "./config.js";

/**
 * What runs after an output changed. systemctl is called by name (PATH), so
 * on NixOS the unit's `path` decides which systemd it is; commands run
 * without a shell. Every run has a timeout and never throws: the result is
 * logged and counted by the caller.
 */

export function actionArgv(a: ActionConfig): string[] {
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
  return actionArgv(a).join("\u0000");
}

export function actionLabel(a: ActionConfig): string {
  return a.type === "command" ? `command ${a.argv[0]}` : `${a.type} ${a.unit}`;
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
