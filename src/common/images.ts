import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { binaryPath, imageInfo, imageTarball, type ImageName } from "./binaries.js";
import { HakError } from "./errors.js";

/**
 * Puts the locally built images into a containerd, since no registry is
 * reachable: `ctr images import` of the tarballs scripts/build-binaries.sh
 * made. The CRI plugin (kubelet's side) sees images of the `k8s.io`
 * namespace only, so that is the default.
 */

const run = promisify(execFile);

export interface ImportOptions {
  /** containerd's socket (its grpc.address). */
  address: string;
  namespace?: string;
  /** Snapshotter to unpack into; containerd's default when left out. */
  snapshotter?: string;
  images?: ImageName[];
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

async function ctr(args: string[], o: ImportOptions): Promise<string> {
  const bin = binaryPath("ctr", o.env);
  try {
    const { stdout } = await run(bin, ["--address", o.address, "--namespace", o.namespace ?? "k8s.io", ...args], {
      timeout: o.timeoutMs ?? 120_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new HakError(`ctr ${args.join(" ")} failed: ${(e.stderr || e.message).trim()}`, {
      where: `containerd at ${o.address}`,
      cause: err,
    });
  }
}

/** Image references present in the namespace. */
export async function listImages(o: ImportOptions): Promise<string[]> {
  return (await ctr(["images", "list", "--quiet"], o)).split("\n").filter((l) => l.length > 0);
}

/**
 * Imports the images (all by default) and checks each reference is then
 * listed; returns the references. Importing again is harmless (same digests).
 */
export async function importImages(o: ImportOptions): Promise<string[]> {
  const names = o.images ?? (["pause", "busybox"] as const);
  const refs: string[] = [];
  for (const name of names) {
    const { ref } = imageInfo(name);
    const tar = imageTarball(name, o.env);
    await ctr(["images", "import", ...(o.snapshotter ? ["--snapshotter", o.snapshotter] : []), tar], o);
    refs.push(ref);
  }
  const have = new Set(await listImages(o));
  const missing = refs.filter((r) => !have.has(r));
  if (missing.length > 0) {
    throw new HakError(`imported, but containerd does not list ${missing.join(", ")}`, { where: `containerd at ${o.address}` });
  }
  return refs;
}
