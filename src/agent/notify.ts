import { spawn } from "node:child_process";

/**
 * systemd readiness (Type=notify). Node cannot send on unix datagram
 * sockets, and the npm packages that can are native addons (a compiler in
 * the Nix build, for one datagram), so the agent asks `systemd-notify`, which
 * every systemd system has. The message then comes from a child process, so
 * the unit needs NotifyAccess=all (the NixOS module sets it). Without
 * NOTIFY_SOCKET (not under systemd) this does nothing.
 */
export function sdNotify(state: string, env: NodeJS.ProcessEnv = process.env, binary = "systemd-notify"): Promise<boolean> {
  if (!env.NOTIFY_SOCKET) return Promise.resolve(false);
  const args = state
    .split("\n")
    .filter(Boolean)
    .map((kv) => (kv === "READY=1" ? "--ready" : kv));
  // Name the agent as sender: systemd-notify may exit before PID 1 reads the datagram, and then
  // PID 1 could not map the child's PID to the unit (older systemd).
  args.unshift(`--pid=${process.pid}`);
  return new Promise((resolve) => {
    const child = spawn(binary, args, { stdio: "ignore", env });
    child.on("error", () => resolve(false));
    child.on("close", (code) => resolve(code === 0));
  });
}
