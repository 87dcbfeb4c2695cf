import { randomBytes } from "node:crypto";
import { chmodSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { HakError } from "../common/errors.js";
import { fsyncDir, writeFileAtomic, type WriteOptions } from "../common/fsutil.js";

/**
 * Writes a certificate output as one unit. Each generation is a new
 * directory `<dir of certFile>/.hak-<name>/gen-<time>-<rand>/` whose files are
 * created with their final owner and mode and fsynced; then the symlink
 * `.hak-<name>/current` is switched to it with one rename(2), and the store
 * folder is fsynced. The configured paths (certFile, keyFile, …) are
 * symlinks to `current/<file>`, made once. So every open() sees a complete,
 * matching generation — the same scheme as Kubernetes' projected volumes.
 * consul-template writes cert and key as two templates, so a reader can meet
 * a new certificate with the old key; this is what hak does instead.
 */

export interface Ownership {
  uid: number;
  gid: number;
  /** Mode of files holding a key or secret; public files get this plus read for all. */
  mode: number;
}

export interface CertFilePaths {
  name: string;
  certFile: string;
  keyFile: string;
  caFile?: string;
  chainFile?: string;
  bundleFile?: string;
}

export interface CertContent {
  certPem: string;
  keyPem: string;
  caPem: string;
  chainPem: string;
}

/** Facts about a generation that the certificate itself does not carry. */
export interface GenerationMeta {
  /** When the agent received the certificate (ISO time). */
  obtainedAt: string;
}

const META_FILE = "meta.json";

export function storeDir(out: CertFilePaths): string {
  return join(dirname(out.certFile), `.hak-${out.name}`);
}

const GEN_PREFIX = "gen-";

/** Mode for certificates and CA files: nothing secret in them. */
export function publicMode(mode: number): number {
  return mode | 0o444;
}

export function writeCertGeneration(out: CertFilePaths, c: CertContent, own: Ownership, meta: GenerationMeta): string {
  const store = storeDir(out);
  const gen = `${GEN_PREFIX}${Date.now().toString().padStart(15, "0")}-${randomBytes(4).toString("hex")}`;
  const genDir = join(store, gen);
  try {
    mkdirSync(store, { recursive: true, mode: 0o755 });
    mkdirSync(genDir, { mode: 0o755 });
    // mkdir's mode passes through the umask; the consuming daemons (etcd, kube-*) must traverse both.
    chmodSync(store, 0o755);
    chmodSync(genDir, 0o755);
  } catch (err) {
    throw fsError("cannot create the output's folder", store, err);
  }
  const pub = { uid: own.uid, gid: own.gid, mode: publicMode(own.mode) };
  const files: [string, string, WriteOptions][] = [
    ["key.pem", c.keyPem, own],
    ["cert.pem", c.certPem, pub],
    ["ca.pem", c.caPem, pub],
    ["chain.pem", c.chainPem, pub],
    [META_FILE, `${JSON.stringify(meta)}\n`, { mode: 0o644 }],
  ];
  try {
    for (const [file, data, o] of files) writeFileAtomic(join(genDir, file), data, o);
    fsyncDir(genDir);
  } catch (err) {
    rmSync(genDir, { recursive: true, force: true });
    throw fsError("cannot write a new generation", genDir, err);
  }
  // The switch: one rename of a symlink. Until here nothing a reader sees has changed.
  atomicSymlink(gen, join(store, "current"));
  fsyncDir(store);
  const links: [string | undefined, string][] = [
    [out.certFile, "cert.pem"],
    [out.keyFile, "key.pem"],
    [out.caFile, "ca.pem"],
    [out.chainFile, "chain.pem"],
  ];
  for (const [path, file] of links) if (path) ensureLink(path, join(store, "current", file));
  if (out.bundleFile) writeFileAtomic(out.bundleFile, c.keyPem + c.certPem, own);
  pruneGenerations(store, gen);
  return genDir;
}

/** Makes `path` a symlink to `target`, replacing whatever is there with one rename; no-op when already right. */
function ensureLink(path: string, target: string): void {
  try {
    if (lstatSync(path).isSymbolicLink() && readlinkSync(path) === target) return;
  } catch {
    /* missing: create it */
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  atomicSymlink(target, path);
  fsyncDir(dirname(path));
}

function atomicSymlink(target: string, path: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    symlinkSync(target, tmp);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw fsError("cannot switch the symlink", path, err);
  }
}

/** Keeps the current and the previous generation (a reader may still hold the previous one open). */
function pruneGenerations(store: string, current: string): void {
  const gens = readdirSync(store)
    .filter((n) => n.startsWith(GEN_PREFIX))
    .sort();
  const keep = new Set([current, gens.filter((g) => g !== current).at(-1)]);
  for (const g of gens) if (!keep.has(g)) rmSync(join(store, g), { recursive: true, force: true });
}

/** The current generation's meta, when there is one. */
export function readGenerationMeta(out: CertFilePaths): GenerationMeta | undefined {
  try {
    const m = JSON.parse(readFileSync(join(storeDir(out), "current", META_FILE), "utf8")) as Partial<GenerationMeta>;
    return typeof m.obtainedAt === "string" && !Number.isNaN(Date.parse(m.obtainedAt)) ? { obtainedAt: m.obtainedAt } : undefined;
  } catch {
    return undefined;
  }
}

/** Number of generations in an output's store (tests and `check`). */
export function generationCount(out: CertFilePaths): number {
  try {
    return readdirSync(storeDir(out)).filter((n) => n.startsWith(GEN_PREFIX)).length;
  } catch {
    return 0;
  }
}

export function fsError(what: string, where: string, err: unknown): HakError {
  const code = (err as NodeJS.ErrnoException).code;
  const fix =
    code === "EACCES" || code === "EPERM" || code === "EROFS"
      ? "the agent cannot write here: check the folder's owner and mode (and ReadWritePaths= of the unit)"
      : code === "ENOSPC"
        ? "the file system is full"
        : undefined;
  return new HakError(`${what}: ${code ?? (err as Error).message}`, { where, fix, cause: err });
}
