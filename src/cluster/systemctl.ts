import { control } from "./supervisor.js";
import type { ControlRequest } from "./units.js";

/**
 * The local cluster's `systemctl` stand-in, first on the PATH of every unit
 * the host's supervisor starts: it turns the agent's actions
 * (`systemctl restart|reload-or-restart X.service`, `systemctl kill -s SIG X`)
 * into requests to that host's supervisor (HAK_SUPERVISOR_SOCKET).
 * Anything else exits 2 so a wrong action shows in the agent's log.
 */
export function parseSystemctl(argv: string[]): ControlRequest | string {
  const [verb, ...rest] = argv;
  if ((verb === "restart" || verb === "reload-or-restart") && rest.length === 1) return { op: verb, unit: rest[0]! };
  if (verb === "reload" && rest.length === 1) return { op: "reload-or-restart", unit: rest[0]! };
  if (verb === "kill" && rest.length === 3 && (rest[0] === "-s" || rest[0] === "--signal")) return { op: "signal", unit: rest[2]!, signal: rest[1]!.startsWith("SIG") ? rest[1]! : `SIG${rest[1]}` };
  return `the local cluster's systemctl stand-in does not do: systemctl ${argv.join(" ")}`;
}

export async function systemctlMain(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const req = parseSystemctl(argv);
  if (typeof req === "string") {
    process.stderr.write(`${req}\n`);
    return 2;
  }
  const socket = env.HAK_SUPERVISOR_SOCKET;
  if (!socket) {
    process.stderr.write("HAK_SUPERVISOR_SOCKET is not set (not under the local cluster's supervisor)\n");
    return 2;
  }
  try {
    const a = await control(socket, req, 60_000);
    if (!a.ok) {
      process.stderr.write(`${a.error}\n`);
      return 1;
    }
    return 0;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 1;
  }
}
