import { generateKeyPairSync } from "node:crypto";
import { mapLimit } from "../common/async.js";
import { HakError } from "../common/errors.js";
import { APPROLE_MOUNT, CERT_AUTH_MOUNT, KV_MOUNT, PKI_MOUNT, type CaName, CA_NAMES } from "../common/names.js";
import { VaultError, type VaultClient } from "../common/vault.js";
import { diffFields, type FieldDiff } from "./diff.js";
import type { DesiredObject, DesiredState } from "./desired.js";

/**
 * Reads what Vault has for every desired object, plans create / update /
 * delete / unchanged, and applies the plan in order. Reading and applying are
 * the I/O edges; deciding is diffFields (pure).
 */

export type Action = "create" | "update" | "delete" | "unchanged";

export interface PlanEntry {
  id: string;
  kind: DesiredObject["kind"];
  action: Action;
  diffs: FieldDiff[];
  host?: string;
  /** How to apply it; absent for unchanged entries. */
  apply?: (ctx: ApplyContext) => Promise<void>;
}

export interface Plan {
  entries: PlanEntry[];
  counts: Record<Action, number>;
  applied: boolean;
}

interface MountInfo {
  type: string;
  accessor: string;
}

/** What is read once per run and shared by the object readers. */
interface ReadContext {
  mounts: Map<string, MountInfo>;
  auths: Map<string, MountInfo>;
  audits: { path: string; type: string; filePath?: string }[];
  identityCaPem?: string;
  /** LISTs of the collections hak keeps per host (roles, entities): an object not listed is created without reading it. */
  listed: Map<string, Set<string>>;
  /** Entities read during this plan, by name: the entity and its two aliases read it once. */
  entities: Map<string, Promise<EntityData | undefined>>;
}

export interface ApplyContext {
  client: VaultClient;
  /** Looked up again at apply time: earlier entries may have created them. */
  authAccessor(mount: string): Promise<string>;
  identityCaPem(): Promise<string>;
  /** Ids of entities written in this run (Vault answers a create with the id), so their aliases need not read them. */
  entityIds: Map<string, string>;
}

async function readMounts(client: VaultClient, path: "sys/mounts" | "sys/auth"): Promise<Map<string, MountInfo>> {
  const res = await client.request<Record<string, { type: string; accessor: string }>>("GET", path);
  const out = new Map<string, MountInfo>();
  const data = (res?.data ?? res) as Record<string, unknown>;
  for (const [k, v] of Object.entries(data ?? {})) {
    if (v && typeof v === "object" && "type" in v) {
      const m = v as { type: string; accessor: string };
      out.set(k.replace(/\/$/, ""), { type: m.type, accessor: m.accessor });
    }
  }
  return out;
}

async function readAudits(client: VaultClient): Promise<ReadContext["audits"]> {
  const res = await client.request<Record<string, { type: string; options?: { file_path?: string } }>>("GET", "sys/audit");
  const data = (res?.data ?? res ?? {}) as Record<string, unknown>;
  return Object.entries(data)
    .filter(([, v]) => v && typeof v === "object" && "type" in v)
    .map(([k, v]) => {
      const d = v as { type: string; options?: { file_path?: string } };
      return { path: k.replace(/\/$/, ""), type: d.type, filePath: d.options?.file_path };
    });
}

async function readIdentityCa(client: VaultClient): Promise<string | undefined> {
  const res = await client.read<{ certificate?: string }>(`${PKI_MOUNT.identity}/cert/ca`).catch(() => undefined);
  const pem = res?.certificate?.trim();
  return pem ? `${pem}\n` : undefined;
}

/** Collections listed once per run; each key is a LIST path whose children are named by the next path segment. */
function listPaths(mounts: Map<string, MountInfo>, auths: Map<string, MountInfo>): string[] {
  const out: string[] = [];
  for (const ca of CA_NAMES as readonly CaName[]) {
    if (!mounts.has(PKI_MOUNT[ca])) continue;
    // Servers without CEL answer 404 for cel/roles, which lists as empty.
    out.push(`${PKI_MOUNT[ca]}/roles`, `${PKI_MOUNT[ca]}/cel/roles`);
  }
  if (auths.has(APPROLE_MOUNT)) out.push(`auth/${APPROLE_MOUNT}/role`);
  if (auths.has(CERT_AUTH_MOUNT)) out.push(`auth/${CERT_AUTH_MOUNT}/certs`);
  out.push("identity/entity/name");
  return out;
}

async function readContext(client: VaultClient): Promise<ReadContext> {
  const [mounts, auths, audits, identityCaPem] = await Promise.all([
    readMounts(client, "sys/mounts"),
    readMounts(client, "sys/auth"),
    readAudits(client),
    readIdentityCa(client),
  ]);
  const paths = listPaths(mounts, auths);
  const lists = await Promise.all(paths.map((p) => client.list(p)));
  const listed = new Map(paths.map((p, i) => [p, new Set(lists[i])]));
  return { mounts, auths, audits, identityCaPem, listed, entities: new Map() };
}

/** False when a LIST of this run shows the object does not exist; undefined when no LIST covers it. */
export function listedAs(listed: Map<string, Set<string>>, path: string): boolean | undefined {
  for (const [dir, names] of listed) {
    if (!path.startsWith(`${dir}/`)) continue;
    const name = path.slice(dir.length + 1).split("/")[0]!;
    if (name) return names.has(name);
  }
  return undefined;
}

function readEntity(client: VaultClient, rc: ReadContext, name: string): Promise<EntityData | undefined> {
  let p = rc.entities.get(name);
  if (!p) {
    p = listedAs(rc.listed, `identity/entity/name/${name}`) === false ? Promise.resolve(undefined) : client.read<EntityData>(`identity/entity/name/${name}`);
    rc.entities.set(name, p);
  }
  return p;
}

function entry(o: DesiredObject, action: Action, diffs: FieldDiff[], apply?: PlanEntry["apply"]): PlanEntry {
  return { id: o.id, kind: o.kind, action, diffs, host: o.host, apply: action === "unchanged" ? undefined : apply };
}

const write = (o: DesiredObject, body: Record<string, unknown> = o.fields) => async (ctx: ApplyContext) => {
  await ctx.client.write(o.path, body);
};

/** Plans one object against what Vault has. */
async function planObject(client: VaultClient, rc: ReadContext, o: DesiredObject): Promise<PlanEntry> {
  switch (o.kind) {
    case "audit": {
      const filePath = (o.fields.options as { file_path: string }).file_path;
      const found = rc.audits.find((a) => a.type === "file" && a.filePath === filePath);
      return entry(o, found ? "unchanged" : "create", [], async (ctx) => {
        try {
          await ctx.client.write(o.path, o.fields);
        } catch (err) {
          if (err instanceof VaultError && err.errors.some((m) => m.includes("declarative"))) {
            throw new HakError(`the server creates audit devices only from its config file; none writes to ${filePath}`, {
              where: "sys/audit",
              fix: `add to the server's config: audit "file" "hak-file" { options { file_path = "${filePath}" } } and restart or SIGHUP it (vault-dev.hcl shows how)`,
            });
          }
          throw err;
        }
      });
    }
    case "mount":
    case "auth-mount": {
      const name = o.path.replace(/^sys\/(mounts|auth)\//, "");
      const have = (o.kind === "mount" ? rc.mounts : rc.auths).get(name);
      if (have && have.type !== o.fields.type) {
        throw new HakError(`${o.path} exists with type "${have.type}", hak needs "${String(o.fields.type)}"`, {
          where: o.path,
          fix: "move the other mount elsewhere; hak will not replace it",
        });
      }
      return entry(o, have ? "unchanged" : "create", [], write(o));
    }
    case "ca": {
      const mount = o.path.split("/")[0]!;
      const issuers = rc.mounts.has(mount) ? await client.list(`${mount}/issuers`) : [];
      return entry(o, issuers.length > 0 ? "unchanged" : "create", [], write(o));
    }
    case "kv-secret":
      return planServiceAccount(client, rc, o);
    case "entity":
      return planEntity(client, rc, o);
    case "entity-alias":
      return planAlias(client, rc, o);
    case "cert-role": {
      const fields = rc.identityCaPem ? { ...o.fields, certificate: rc.identityCaPem } : o.fields;
      const applyCert = async (ctx: ApplyContext) => {
        await ctx.client.write(o.path, { ...o.fields, certificate: await ctx.identityCaPem() });
      };
      return planFields(client, rc, o, fields, applyCert);
    }
    default:
      return planFields(client, rc, o, o.fields, write(o));
  }
}

function mountOf(o: DesiredObject): string | undefined {
  const first = o.path.split("/")[0]!;
  if (first === "auth") return undefined;
  if (first === "sys") return undefined;
  return first;
}

async function planFields(
  client: VaultClient,
  rc: ReadContext,
  o: DesiredObject,
  fields: Record<string, unknown>,
  apply: PlanEntry["apply"],
): Promise<PlanEntry> {
  // Nothing to read under a mount that does not exist yet (a dry run on an empty Vault).
  const mount = mountOf(o);
  if (mount && !rc.mounts.has(mount)) return entry(o, "create", [], apply);
  const authMount = o.path.startsWith("auth/") ? o.path.split("/")[1]! : undefined;
  if (authMount && !rc.auths.has(authMount)) return entry(o, "create", [], apply);
  if (o.kind === "mount-tune") {
    const name = o.path.replace(/^sys\/mounts\//, "").replace(/\/tune$/, "");
    if (!rc.mounts.has(name)) return entry(o, "create", [], apply);
  }
  if (listedAs(rc.listed, o.path) === false) return entry(o, "create", [], apply);
  const actual = await client.read<Record<string, unknown>>(o.readPath ?? o.path);
  if (actual === undefined) return entry(o, "create", [], apply);
  const diffs = diffFields(fields, actual);
  return entry(o, diffs.length === 0 ? "unchanged" : "update", diffs, apply);
}

async function planServiceAccount(client: VaultClient, rc: ReadContext, o: DesiredObject): Promise<PlanEntry> {
  const exists = rc.mounts.has(KV_MOUNT) && (await client.read(o.path.replace("/data/", "/metadata/"))) !== undefined;
  return entry(o, exists ? "unchanged" : "create", [], async (ctx) => {
    // Made here, written once with check-and-set 0: a second run, or a race
    // with another operator, can never replace a key the cluster already uses.
    const { privateKey, publicKey } = generateKeyPairSync("rsa", {
      modulusLength: 2048,
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    await ctx.client.write(o.path, { options: { cas: 0 }, data: { key: privateKey, pub: publicKey } });
  });
}

interface EntityData {
  id: string;
  metadata?: Record<string, string> | null;
  policies?: string[] | null;
  aliases?: { id: string; name: string; mount_accessor: string }[] | null;
}

async function planEntity(client: VaultClient, rc: ReadContext, o: DesiredObject): Promise<PlanEntry> {
  const name = o.path.slice("identity/entity/name/".length);
  const actual = await readEntity(client, rc, name);
  const apply = async (ctx: ApplyContext) => {
    const res = await ctx.client.write<{ id?: string }>(o.path, o.fields);
    if (res?.data?.id) ctx.entityIds.set(name, res.data.id);
  };
  if (!actual) return entry(o, "create", [], apply);
  const diffs = diffFields(o.fields, actual as unknown as Record<string, unknown>);
  return entry(o, diffs.length === 0 ? "unchanged" : "update", diffs, apply);
}

async function planAlias(client: VaultClient, rc: ReadContext, o: DesiredObject): Promise<PlanEntry> {
  const { name, mount, entity } = o.fields as { name: string; mount: string; entity: string };
  const accessor = rc.auths.get(mount)?.accessor;
  const apply = async (ctx: ApplyContext) => {
    const acc = await ctx.authAccessor(mount);
    const id = ctx.entityIds.get(entity) ?? (await ctx.client.read<EntityData>(`identity/entity/name/${entity}`))?.id;
    if (!id) throw new HakError(`entity ${entity} missing while creating its alias`, { where: o.id });
    // On an auth mount this run created, no alias can exist yet: no lookup.
    const other = accessor ? await findAlias(ctx.client, name, acc) : undefined;
    if (other) await ctx.client.write(`identity/entity-alias/id/${other.id}`, { name, canonical_id: id, mount_accessor: acc });
    else await ctx.client.write("identity/entity-alias", { name, canonical_id: id, mount_accessor: acc });
  };
  if (!accessor) return entry(o, "create", [], apply);
  const ent = await readEntity(client, rc, entity);
  const mine = ent?.aliases?.find((a) => a.name === name && a.mount_accessor === accessor);
  if (mine) return entry(o, "unchanged", [], apply);
  // An alias may already exist on another entity, e.g. made by a login before bootstrap ran.
  const other = await findAlias(client, name, accessor);
  return entry(o, other ? "update" : "create", other ? [{ field: "canonical_id", from: other.canonical_id, to: entity }] : [], apply);
}

async function findAlias(client: VaultClient, name: string, accessor: string): Promise<{ id: string; canonical_id: string } | undefined> {
  const res = await client.write<{ id?: string; aliases?: { id: string; name: string; mount_accessor: string }[] }>("identity/lookup/entity", {
    alias_name: name,
    alias_mount_accessor: accessor,
  });
  const ent = res?.data;
  const alias = ent?.aliases?.find((a) => a.name === name && a.mount_accessor === accessor);
  return alias && ent?.id ? { id: alias.id, canonical_id: ent.id } : undefined;
}

/** Objects on hak's own mounts and auth roles that no host of the inventory needs any more. */
async function planStale(client: VaultClient, rc: ReadContext, desired: DesiredState): Promise<PlanEntry[]> {
  const wanted = new Set(desired.objects.map((o) => o.path));
  const hostNames = new Set(desired.hosts.map((h) => h.name));
  const out: PlanEntry[] = [];
  const del = (kind: DesiredObject["kind"], path: string, host?: string): PlanEntry => ({
    id: `${kind} ${path}`,
    kind,
    action: "delete",
    diffs: [],
    host,
    apply: async (ctx) => ctx.client.delete(path),
  });
  // hak owns its PKI mounts: a role there that the inventory does not derive is stale.
  for (const ca of CA_NAMES as readonly CaName[]) {
    const mount = PKI_MOUNT[ca];
    if (!rc.mounts.has(mount)) continue;
    for (const role of rc.listed.get(`${mount}/roles`) ?? []) {
      if (!wanted.has(`${mount}/roles/${role}`)) out.push(del("pki-role", `${mount}/roles/${role}`));
    }
    // Servers without CEL answer 404 here, which lists as empty.
    for (const role of rc.listed.get(`${mount}/cel/roles`) ?? []) {
      if (!wanted.has(`${mount}/cel/roles/${role}`)) out.push(del("pki-cel-role", `${mount}/cel/roles/${role}`));
    }
  }
  // On shared auth mounts, only roles that carry nothing but hak policies are hak's.
  for (const [mount, listPath, kind] of [
    [APPROLE_MOUNT, `auth/${APPROLE_MOUNT}/role`, "approle-role"],
    [CERT_AUTH_MOUNT, `auth/${CERT_AUTH_MOUNT}/certs`, "cert-role"],
  ] as const) {
    if (!rc.auths.has(mount)) continue;
    for (const name of rc.listed.get(listPath) ?? []) {
      const path = `${listPath}/${name}`;
      if (wanted.has(path) || hostNames.has(name)) continue;
      const role = await client.read<{ token_policies?: string[] }>(path);
      const pols = role?.token_policies ?? [];
      if (pols.length > 0 && pols.every((p) => p.startsWith("hak-"))) out.push(del(kind, path, name));
    }
  }
  for (const name of rc.listed.get("identity/entity/name") ?? []) {
    const path = `identity/entity/name/${name}`;
    if (name.startsWith("hak-host-") && !wanted.has(path)) out.push(del("entity", path, name.slice("hak-host-".length)));
  }
  return out;
}


export function countActions(entries: PlanEntry[]): Record<Action, number> {
  const counts: Record<Action, number> = { create: 0, update: 0, delete: 0, unchanged: 0 };
  for (const e of entries) counts[e.action]++;
  return counts;
}

/** Reads Vault and plans every object; changes nothing. */
export async function plan(client: VaultClient, desired: DesiredState): Promise<PlanEntry[]> {
  const rc = await readContext(client);
  const entries = await mapLimit(desired.objects, RECONCILE_PARALLEL, (o) => planObject(client, rc, o));
  return [...entries, ...(await planStale(client, rc, desired))];
}

/**
 * Right after a mount is made, a raft standby may not see it yet ("no mount
 * entry found", "no handler for route"), and a new KV v2 mount answers
 * "Waiting for the primary to upgrade from non-versioned to versioned data"
 * for a moment. Those settle by themselves: waited out for up to 15 s.
 */
async function retryWhileMountSettles<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      const settling = err instanceof VaultError && err.errors.some((m) => /upgrad(e|ing) from non-versioned to versioned|no mount entry found|no handler for route/i.test(m));
      if (!settling || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * Requests in flight against the active node while reading and while
 * applying. Raft commits concurrent writes together, so a few in flight
 * multiply the write rate; more than this only queues on a small server.
 */
export const RECONCILE_PARALLEL = 16;

/**
 * The order of a plan as batches that may run side by side: the shared
 * objects (no host: audit, mounts, CAs, shared roles, policies, auth mounts)
 * one at a time in plan order, since later ones need earlier ones; then
 * chains of each host's objects, each chain in plan order (approle role
 * before its role ID, entity before its aliases), chains side by side, as no
 * host's objects depend on another's. A host has two chains: its identity
 * objects (entity, aliases), which the server writes one at a time under
 * one lock, and the rest (roles), which it writes in parallel; apart, the
 * roles need not wait behind the identity store.
 */
export function applyOrder(entries: PlanEntry[]): { shared: PlanEntry[]; chains: PlanEntry[][] } {
  const shared: PlanEntry[] = [];
  const hosts = new Map<string, { roles: PlanEntry[]; identity: PlanEntry[] }>();
  for (const e of entries) {
    if (!e.apply) continue;
    if (e.host === undefined) {
      shared.push(e);
      continue;
    }
    let h = hosts.get(e.host);
    if (!h) hosts.set(e.host, (h = { roles: [], identity: [] }));
    (e.kind === "entity" || e.kind === "entity-alias" ? h.identity : h.roles).push(e);
  }
  // Each host's two chains next to each other, so the requests in flight are about half of each kind.
  const chains = [...hosts.values()].flatMap((h) => [h.roles, h.identity]).filter((c) => c.length > 0);
  return { shared, chains };
}

/** Applies the changes of a plan: shared objects in order, then the hosts' chains side by side (applyOrder). */
export async function applyPlan(client: VaultClient, entries: PlanEntry[], onStep?: (e: PlanEntry) => void, parallel = RECONCILE_PARALLEL): Promise<void> {
  let auths: Promise<Map<string, MountInfo>> | undefined;
  let caPem: Promise<string | undefined> | undefined;
  const ctx: ApplyContext = {
    client,
    authAccessor: async (mount) => {
      // One read shared by the hosts applied side by side; read again when a mount made since is not in it.
      if (!auths || !(await auths).has(mount)) auths = readMounts(client, "sys/auth");
      const acc = (await auths).get(mount)?.accessor;
      if (!acc) throw new HakError(`auth mount ${mount} has no accessor`, { where: `sys/auth/${mount}` });
      return acc;
    },
    identityCaPem: async () => {
      caPem ??= readIdentityCa(client);
      const pem = await caPem;
      if (!pem) {
        caPem = undefined;
        throw new HakError("the identity CA does not exist", { where: `${PKI_MOUNT.identity}/cert/ca` });
      }
      return pem;
    },
    entityIds: new Map(),
  };
  const one = async (e: PlanEntry) => {
    onStep?.(e);
    try {
      await retryWhileMountSettles(() => e.apply!(ctx));
    } catch (err) {
      throw new HakError(`could not ${e.action} ${e.id}: ${(err as Error).message}`, { cause: err, where: e.id });
    }
  };
  const { shared, chains } = applyOrder(entries);
  for (const e of shared) await one(e);
  await mapLimit(chains, parallel, async (chain) => {
    for (const e of chain) await one(e);
  });
}
