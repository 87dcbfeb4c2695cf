import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";
import { errorMessage, HakError } from "../common/errors.js";
import type { Host } from "../common/inventory.js";
import type { VaultClient } from "../common/vault.js";
import { mapLimit } from "./pool.js";
import { SshSession, type KnownHosts, type SshSettings } from "./ssh.js";

/**
 * What `hak-deploy apply` checks before it changes anything: colmena can be
 * started, every host to enroll answers SSH with a known host key and takes
 * our key, and Vault is reachable, unsealed, and the token valid. All
 * checks run, every failure is reported at once, and nothing in Vault or
 * on a host has been touched when one fails.
 */

export interface PreflightItem {
  check: "colmena" | "ssh" | "vault";
  target: string;
  ok: boolean;
  detail: string;
}

export interface PreflightOptions {
  colmena: string;
  /** Vault is used (bootstrap or enrollment). */
  client?: VaultClient;
  /** Hosts reached over SSH (enrollment), with the settings enrollment uses. */
  ssh?: { hosts: Host[]; settings: SshSettings; knownHosts: KnownHosts; parallel: number };
  env?: NodeJS.ProcessEnv;
}

/** The file `bin` names: a path as given, else the first executable of that name on PATH. */
export function findExecutable(bin: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = bin.includes("/") ? [bin] : (env.PATH ?? "").split(delimiter).filter((d) => isAbsolute(d)).map((d) => join(d, bin));
  for (const c of candidates) {
    try {
      if (!statSync(c).isFile()) continue;
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not here
    }
  }
  return undefined;
}

async function vaultItem(client: VaultClient): Promise<PreflightItem> {
  const target = client.addresses.join(",");
  try {
    const seal = await client.readBare<{ sealed?: boolean; initialized?: boolean }>("sys/seal-status", { token: null });
    if (seal?.initialized === false) return { check: "vault", target, ok: false, detail: "not initialised (bao operator init)" };
    if (seal?.sealed) return { check: "vault", target, ok: false, detail: "sealed: unseal it first (bao operator unseal)" };
    // A token that expired is told apart from one without the policy (see vault.ts).
    const self = await client.request<{ policies?: string[] }>("GET", "auth/token/lookup-self");
    return { check: "vault", target, ok: true, detail: `unsealed; token policies: ${(self?.data?.policies ?? []).join(", ") || "none"}` };
  } catch (err) {
    // The target already says where; keep the message and its fix.
    const detail = err instanceof HakError ? `${err.message}${err.fix ? `; fix: ${err.fix}` : ""}` : errorMessage(err);
    return { check: "vault", target, ok: false, detail };
  }
}

export async function preflight(o: PreflightOptions): Promise<PreflightItem[]> {
  const items: PreflightItem[] = [];
  const colmena = findExecutable(o.colmena, o.env);
  items.push(
    colmena
      ? { check: "colmena", target: o.colmena, ok: true, detail: colmena }
      : { check: "colmena", target: o.colmena, ok: false, detail: `not found${o.colmena.includes("/") ? "" : " on PATH"} (the flake's devShell has it: nix develop; or pass --colmena /path/to/colmena)` },
  );
  if (o.client) items.push(await vaultItem(o.client));
  if (o.ssh) {
    const s = o.ssh;
    const ssh = await mapLimit(s.hosts, s.parallel, async (h): Promise<PreflightItem> => {
      try {
        const session = await SshSession.connect({ name: h.name, address: h.address }, s.settings, s.knownHosts);
        session.close();
        return { check: "ssh", target: h.name, ok: true, detail: `${s.settings.user}@${h.address}:${s.settings.port}` };
      } catch (err) {
        return { check: "ssh", target: h.name, ok: false, detail: errorMessage(err) };
      }
    });
    items.push(...ssh);
  }
  return items;
}

/** Throws, naming every failed check, when one failed. */
export function requirePreflight(items: PreflightItem[]): void {
  const failed = items.filter((i) => !i.ok);
  if (failed.length === 0) return;
  throw new HakError(`preflight failed, nothing was changed:\n${failed.map((i) => `  ${i.check} ${i.target}: ${i.detail.replace(/\n\s*/g, " ")}`).join("\n")}`, {
    fix: "fix these, then run hak-deploy apply again (hak-deploy apply --dry-run checks and shows the plan without changing anything)",
  });
}
