import { randomBytes } from "node:crypto";
import { closeSync, fchmodSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync, mkdirSync, chownSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** A file's text, or undefined when there is no path or it cannot be read (absent, a folder, no permission). */
export function readTextIfAny(path: string | undefined): string | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

export interface WriteOptions {
  /** Final mode; the file is created with it, so it is never more open than this. */
  mode: number;
  uid?: number;
  gid?: number;
}

/**
 * Writes a file so that a reader sees either the old or the new content,
 * never a part: temp file in the same folder created with its final mode
 * (and owner), fsync, rename, fsync of the folder.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, opts: WriteOptions): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(tmp, "wx", opts.mode);
  try {
    // open()'s mode passes through the umask; set it exactly (e.g. 0660 under umask 022).
    fchmodSync(fd, opts.mode);
    if (opts.uid !== undefined || opts.gid !== undefined) chownSync(tmp, opts.uid ?? -1, opts.gid ?? -1);
    const buf = typeof data === "string" ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
  fsyncDir(dir);
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
