import { certFile, SECRET_ID_FILE } from "../plan/paths.js";
import { posix } from "node:path";
import { errorMessage, HakError, InputError } from "../common/errors.js";
import type { Host, Inventory } from "../common/inventory.js";
import { hostCidr } from "../common/ip.js";
import { APPROLE_MOUNT, authRoleName, profileFromOu } from "../common/names.js";
import type { VaultClient } from "../common/vault.js";
import { certFacts, splitPemBundle } from "../common/x509.js";
import { mapLimit } from "./pool.js";
import { remoteShell, shellQuote } from "./shell.js";
import { SshSession, type KnownHosts, type SshSettings } from "./ssh.js";

/**
 * Enrollment: the one credential a host gets from outside. Per host, an
 * AppRole secret ID that works once, for a short time, only from the host's
 * own address (and whose token works only from there too), written over SSH
 * to the agent's secret-ID file with mode 0600. The agent logs in with it
 * once, gets its host identity certificate and uses TLS cert auth from then
 * on.
 *
 * Not response-wrapped, on purpose: the secret ID is already bound to the
 * host's /32 (a copy is useless from anywhere else), single-use and
 * short-lived, and it travels only inside SSH to a host whose key was
 * verified. A wrapping token is bound to no address, so it would add an
 * unwrap step to the agent without narrowing who can use what is pushed.
 */

/** Where the host plans put them (src/plan/paths.ts). */
export const DEFAULT_SECRET_ID_PATH = SECRET_ID_FILE;
/** The agent's host identity certificate (profile host-identity), for TLS cert auth after the first login. */
export const DEFAULT_IDENTITY_CERT_PATH = certFile("host-identity");
/** An identity that expires sooner than this is not worth keeping: enroll anyway. */
const IDENTITY_MARGIN_MS = 3600_000;
/** The agent's /status on the host (its `listen`, nix/lib/paths.nix agentListenAddress). */
export const DEFAULT_AGENT_STATUS_URL = "http://127.0.0.1:9180/status";
/** A token this close to its expiry does not count: the agent may not manage to renew its identity with it. */
const TOKEN_MARGIN_MS = 10 * 60_000;

export interface EnrollOptions {
  ssh: SshSettings;
  knownHosts: KnownHosts;
  /** Where the agent reads its secret ID on the host. */
  secretIdPath: string;
  /** Shorter than the role's secret_id_ttl if given; never longer. */
  secretIdTtlSeconds?: number;
  /** Hosts enrolled at the same time. */
  parallel: number;
  /**
   * Where the agent keeps its host identity certificate. A host whose agent
   * already holds a valid one for its name logs in with it and needs no
   * secret ID, so none is minted (unless `force`).
   */
  identityCertPath?: string;
  /**
   * The agent's /status URL as seen on the host. A host whose identity is
   * not valid but whose agent still holds a Vault token renews its identity
   * itself: no secret ID is minted for it either (unless `force`).
   */
  agentStatusUrl?: string;
  force?: boolean;
  onProgress?: (host: string, message: string) => void;
}

export interface EnrollResult {
  host: string;
  address: string;
  ok: boolean;
  /** What failed, with `where` and `fix` folded in. */
  error?: string;
  accessor?: string;
  expiresAt?: string;
  /** `600 root:root`, as the host reports the file after the rename. */
  file?: string;
  /** Earlier unused secret IDs of the host destroyed after this one arrived. */
  destroyedEarlier?: number;
  /** Not enrolled because the agent holds a valid host identity (until this time). */
  identityValidUntil?: string;
  /** Not enrolled because the agent holds a Vault token (until this time) and renews its identity with it. */
  agentTokenValidUntil?: string;
}

interface AppRoleRole {
  secret_id_ttl?: number;
  secret_id_num_uses?: number;
  secret_id_bound_cidrs?: string[] | null;
}

interface SecretIdResponse {
  secret_id: string;
  secret_id_accessor: string;
  secret_id_ttl: number;
  secret_id_num_uses: number;
}

/** A file path on the hosts (they are POSIX): absolute, one line, not a folder. */
export function checkHostPath(path: string, where = "--secret-id-path"): string {
  if (!posix.isAbsolute(path) || /[\0\n]/.test(path) || path.endsWith("/"))
    throw new InputError(`not an absolute file path: ${JSON.stringify(path)}`, { where });
  return posix.normalize(path);
}

/**
 * The script that writes stdin to `path`: the folder is created 0700, the
 * data goes into a mktemp file (0600 from its creation, under umask 077) in
 * the same folder and is renamed over the path, so no reader ever sees the
 * file readable by others or half written. Prints mode and owner.
 */
export function secretIdWriteScript(path: string): string {
  const dir = posix.dirname(path);
  return [
    "set -eu",
    "umask 077",
    `mkdir -p -m 0700 ${shellQuote(dir)}`,
    `t=$(mktemp ${shellQuote(`${dir}/.${posix.basename(path)}.XXXXXX`)})`,
    `trap 'rm -f "$t"' EXIT`,
    `cat > "$t"`,
    `chmod 0600 "$t"`,
    `mv -f "$t" ${shellQuote(path)}`,
    "trap - EXIT",
    `stat -c '%a %U:%G' ${shellQuote(path)}`,
  ].join("\n");
}

/**
 * The host's identity certificate, if the agent has one for this host that
 * is good for a while yet: then the agent logs in with TLS cert auth and a
 * secret ID would only be one more credential lying around.
 */
async function validIdentity(session: SshSession, host: Host, path: string, user: string): Promise<Date | undefined> {
  const res = await session.exec(remoteShell(`cat ${shellQuote(path)} 2>/dev/null || true`, user));
  const pem = splitPemBundle(res.stdout)[0];
  if (!pem) return undefined;
  try {
    const f = certFacts(pem);
    // Only a skip decision, not a trust decision: a bogus file makes the agent's login fail, and check shows it.
    const mine = f.commonName === host.name && profileFromOu(f.organizationalUnit) === "host-identity";
    return mine && f.notAfter.getTime() - Date.now() > IDENTITY_MARGIN_MS ? f.notAfter : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The agent's own answer, over SSH (curl on the host; NixOS has it in its
 * base system): its Vault token's expiry when it holds one good for a while
 * yet. Anything else (no curl, no agent, no token) is "cannot tell": enroll.
 */
async function agentToken(session: SshSession, url: string, user: string): Promise<Date | undefined> {
  const res = await session.exec(remoteShell(`curl -fsS --max-time 3 ${shellQuote(url)} 2>/dev/null || true`, user));
  try {
    const doc = JSON.parse(res.stdout) as { vault?: { tokenExpiresAt?: unknown } | null };
    const at = typeof doc.vault?.tokenExpiresAt === "string" ? new Date(doc.vault.tokenExpiresAt) : undefined;
    return at && at.getTime() - Date.now() > TOKEN_MARGIN_MS ? at : undefined;
  } catch {
    return undefined;
  }
}

/** A secret ID for one host, bound to its address, usable once. */
export async function mintSecretId(client: VaultClient, host: Host, ttlSeconds?: number): Promise<SecretIdResponse> {
  const rolePath = `auth/${APPROLE_MOUNT}/role/${authRoleName(host.name)}`;
  const role = await client.read<AppRoleRole>(rolePath);
  if (!role)
    throw new HakError(`Vault has no AppRole role for this host (${rolePath})`, {
      where: host.name,
      fix: "run `hak-pki bootstrap` with this inventory (or `hak-deploy apply`, which does)",
    });
  const roleTtl = role.secret_id_ttl ?? 0;
  const ttl = ttlSeconds === undefined ? undefined : roleTtl > 0 ? Math.min(ttlSeconds, roleTtl) : ttlSeconds;
  const cidr = [hostCidr(host.address)];
  const res = await client.write<SecretIdResponse>(`${rolePath}/secret-id`, {
    cidr_list: cidr,
    token_bound_cidrs: cidr,
    num_uses: 1,
    ...(ttl === undefined ? {} : { ttl }),
    metadata: JSON.stringify({ enrolled_by: "hak-deploy" }),
  });
  const data = res?.data;
  if (!data?.secret_id || !data.secret_id_accessor) throw new HakError("Vault answered without a secret_id", { where: `${rolePath}/secret-id` });
  return data;
}

async function destroySecretId(client: VaultClient, host: Host, accessor: string): Promise<void> {
  await client.write(`auth/${APPROLE_MOUNT}/role/${authRoleName(host.name)}/secret-id-accessor/destroy`, { secret_id_accessor: accessor });
}

/** Earlier secret IDs the host never used: at most one usable credential per host exists after enrollment. */
async function destroyOthers(client: VaultClient, host: Host, keep: string): Promise<number> {
  const accessors = await client.list(`auth/${APPROLE_MOUNT}/role/${authRoleName(host.name)}/secret-id`);
  const stale = accessors.filter((a) => a !== keep);
  for (const a of stale) await destroySecretId(client, host, a);
  return stale.length;
}

/**
 * Enrolls one host. The host key is checked before any secret is minted;
 * a secret ID that did not reach the host is destroyed at once.
 */
export async function enrollHost(client: VaultClient, host: Host, opts: EnrollOptions): Promise<EnrollResult> {
  const progress = (m: string) => opts.onProgress?.(host.name, m);
  const base = { host: host.name, address: host.address };
  let session: SshSession | undefined;
  let minted: SecretIdResponse | undefined;
  try {
    progress(`connecting to ${opts.ssh.user}@${host.address}`);
    session = await SshSession.connect({ name: host.name, address: host.address }, opts.ssh, opts.knownHosts);
    if (!opts.force) {
      const until = await validIdentity(session, host, opts.identityCertPath ?? DEFAULT_IDENTITY_CERT_PATH, opts.ssh.user);
      if (until) {
        progress(`host key verified; the agent holds a valid host identity until ${until.toISOString()}: nothing to do (--force enrolls anyway)`);
        return { ...base, ok: true, identityValidUntil: until.toISOString() };
      }
      const token = await agentToken(session, opts.agentStatusUrl ?? DEFAULT_AGENT_STATUS_URL, opts.ssh.user);
      if (token) {
        progress(`host key verified; no valid identity, but the agent holds a Vault token until ${token.toISOString()} and renews it itself: nothing to do (--force enrolls anyway)`);
        return { ...base, ok: true, agentTokenValidUntil: token.toISOString() };
      }
    }
    progress("host key verified; minting a secret ID");
    minted = await mintSecretId(client, host, opts.secretIdTtlSeconds);
    progress(`pushing it to ${opts.secretIdPath}`);
    const res = await session.exec(remoteShell(secretIdWriteScript(opts.secretIdPath), opts.ssh.user), minted.secret_id);
    if (res.code !== 0)
      throw new HakError(`writing ${opts.secretIdPath} failed (exit ${res.code ?? res.signal}): ${res.stderr.trim() || res.stdout.trim()}`, { where: host.name });
    const file = res.stdout.trim();
    // On the host now: from here on a failure must not destroy it.
    const delivered = minted;
    minted = undefined;
    const destroyed = await destroyOthers(client, host, delivered.secret_id_accessor);
    const expiresAt = delivered.secret_id_ttl > 0 ? new Date(Date.now() + delivered.secret_id_ttl * 1000).toISOString() : undefined;
    progress(`enrolled (${file}${expiresAt ? `, usable once until ${expiresAt}` : ""})`);
    return { ...base, ok: true, accessor: delivered.secret_id_accessor, expiresAt, file, destroyedEarlier: destroyed };
  } catch (err) {
    if (minted) await destroySecretId(client, host, minted.secret_id_accessor).catch(() => undefined);
    const error = errorMessage(err);
    progress(`FAILED: ${error.split("\n")[0]}`);
    return { ...base, ok: false, error };
  } finally {
    session?.close();
  }
}

/** Enrolls hosts in parallel (bounded); every host gets a result, whatever the others do. */
export async function enrollHosts(client: VaultClient, hosts: readonly Host[], opts: EnrollOptions): Promise<EnrollResult[]> {
  return mapLimit(hosts, opts.parallel, (h) => enrollHost(client, h, opts));
}

/** HOST... arguments to hosts; every name must be in the inventory. */
export function selectHosts(inv: Inventory, names: readonly string[]): Host[] {
  if (names.length === 0) return inv.hosts;
  const unknown = names.filter((n) => !inv.hosts.some((h) => h.name === n));
  if (unknown.length > 0)
    throw new InputError(`not in the inventory: ${unknown.join(", ")}`, { where: "HOST", fix: `hosts are: ${inv.hosts.map((h) => h.name).join(", ")}` });
  return inv.hosts.filter((h) => names.includes(h.name));
}
