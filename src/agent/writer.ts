import { randomBytes } from "node:crypto";
import { chmodSync, closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, statfsSync, symlinkSync, unlinkSync, utimesSync, writeSync } from "node:fs";
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

/**
 * Readers that watch their files with inotify (the apiserver's and the
 * kubelet's dynamic certificates, fsnotify on the configured path) watch the
 * inode the symlinks led to when they looked: a generation's files, which a
 * switch never modifies. So every switch also makes an event on the files it
 * left: the previous generation's are touched (an attribute change, which
 * those readers take as "load again") and older ones are deleted (which makes
 * them watch the path anew). Without it they kept serving the old pair until
 * its generation was pruned, one renewal later: past its expiry with short
 * leaves. Kubernetes' projected volumes get the same event by deleting the
 * old folder at once; hak keeps the previous one for readers that resolved
 * the folder and have not read yet.
 */
function touchGeneration(dir: string): void {
  const now = new Date();
  for (const f of readdirSync(dir)) {
    try {
      utimesSync(join(dir, f), now, now);
    } catch {
      /* gone already: deleting it made the event */
    }
  }
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

/** Keeps the current and the previous generation (a reader may have resolved its folder and not read yet); touches the previous one (touchGeneration). */
function pruneGenerations(store: string, current: string): void {
  const gens = readdirSync(store)
    .filter((n) => n.startsWith(GEN_PREFIX))
    .sort();
  const previous = gens.filter((g) => g !== current).at(-1);
  if (previous) touchGeneration(join(store, previous));
  const keep = new Set([current, previous]);
  for (const g of gens) if (!keep.has(g)) rmSync(join(store, g), { recursive: true, force: true });
}

/** The current generation's meta, when there is one. */
export function readGenerationMeta(out: CertFilePaths): GenerationMeta | undefined {
  return readGenerationMetaIn(join(storeDir(out), "current"));
}

/** The meta of the generation in `genDir` (a resolved folder: what its files were read from), when there is one. */
export function readGenerationMetaIn(genDir: string): GenerationMeta | undefined {
  try {
    const m = JSON.parse(readFileSync(join(genDir, META_FILE), "utf8")) as Partial<GenerationMeta>;
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

/**
 * Can a new generation of this output be written now? Asked before Vault is
 * asked for a signature, so a full, read-only or forbidden file system costs
 * no signature: every folder the write touches must have room for the
 * generation's files (by statfs: blocks and inodes) and must accept a small
 * probe file (created, written, fsynced, removed), which is what catches a
 * read-only mount, an immutable folder, a quota or missing permissions.
 * Throws the same FsError the write itself would. A check, not a
 * reservation: the space can still go between check and write, which is why
 * the agent keeps a signed certificate it could not write (agent.ts).
 */
export function checkWritable(out: CertFilePaths, bytes = GENERATION_BYTES): void {
  const store = storeDir(out);
  // The store takes the generation; the bundle's folder takes a bundle; folders of links not yet made take a symlink.
  // A folder not there yet is checked where it would be created (nothing is created by a check).
  const dirs = new Map<string, number>();
  const add = (d: string, n: number) => {
    const at = existingAncestor(d);
    dirs.set(at, (dirs.get(at) ?? 0) + n);
  };
  add(store, bytes);
  if (out.bundleFile) add(dirname(out.bundleFile), PROBE_BLOCK);
  for (const [path, file] of [
    [out.certFile, "cert.pem"],
    [out.keyFile, "key.pem"],
    [out.caFile, "ca.pem"],
    [out.chainFile, "chain.pem"],
  ] as const) {
    if (path && !linkIsRight(path, join(store, "current", file))) add(dirname(path), 0);
  }
  for (const [dir, need] of dirs) probeDir(dir, need);
}

function existingAncestor(dir: string): string {
  let d = dir;
  for (;;) {
    try {
      if (lstatSync(d).isDirectory()) return d;
    } catch {
      /* not there: its parent */
    }
    const up = dirname(d);
    if (up === d) return d;
    d = up;
  }
}

/** Room a generation takes: five small files and a folder, a block each on most file systems, with some margin. */
const PROBE_BLOCK = 4096;
export const GENERATION_BYTES = 8 * PROBE_BLOCK;

function probeDir(dir: string, need: number): void {
  try {
    const st = statfsSync(dir);
    // root may use the blocks ext4 reserves for it; bavail is what others may use.
    const freeBlocks = process.getuid?.() === 0 ? st.bfree : st.bavail;
    if (freeBlocks * st.bsize < need) throw Object.assign(new Error(`${freeBlocks * st.bsize} bytes free, ${need} needed`), { code: "ENOSPC" });
    if (st.files > 0 && st.ffree < 8) throw Object.assign(new Error(`${st.ffree} inodes free`), { code: "ENOSPC" });
  } catch (err) {
    throw fsError("cannot write a new generation (checked before asking Vault)", dir, err);
  }
  const probe = join(dir, `.hak-probe-${randomBytes(4).toString("hex")}`);
  let fd: number | undefined;
  try {
    fd = openSync(probe, "wx", 0o600);
    writeSync(fd, Buffer.alloc(Math.min(need, PROBE_BLOCK)));
    fsyncSync(fd);
  } catch (err) {
    throw fsError("cannot write a new generation (checked before asking Vault)", dir, err);
  } finally {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(probe);
    } catch {
      /* never created */
    }
  }
}

function linkIsRight(path: string, target: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink() && readlinkSync(path) === target;
  } catch {
    return false;
  }
}

/** A file-system failure (full, read-only, not permitted): the agent's own side, not Vault's. */
export class FsError extends HakError {
  readonly code: string | undefined;
  constructor(message: string, opts: { where: string; fix?: string; cause: unknown; code: string | undefined }) {
    super(message, opts);
    this.name = "FsError";
    this.code = opts.code;
  }
}

export function fsError(what: string, where: string, err: unknown): FsError {
  const code = (err as NodeJS.ErrnoException).code;
  const fix =
    code === "EROFS"
      ? "the file system is mounted read-only"
      : code === "EACCES" || code === "EPERM"
      ? "the agent cannot write here: check the folder's owner and mode (and ReadWritePaths= of the unit)"
      : code === "ENOSPC"
        ? "the file system is full (or out of inodes)"
        : undefined;
  return new FsError(`${what}: ${code ?? (err as Error).message}`, { where, fix, cause: err, code });
}
