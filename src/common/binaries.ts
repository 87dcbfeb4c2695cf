import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { HakError } from "./errors.js";
import { PROJECT_ROOT } from "./paths.js";

/**
 * Where the cluster's binaries and images are: scripts/build-binaries.sh
 * (run by scripts/setup.sh) builds them into a cache outside the clone and
 * links the current ones under .tools/. Code asks here and never guesses a
 * path, so a missing binary is one clear error naming it and the fix.
 */

/** Binaries in .tools/bin (HAK_BIN_DIR overrides the folder). */
export const BINARY_NAMES = [
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kubelet",
  "kube-proxy",
  "kubectl",
  "kubeadm",
  "etcd",
  "etcdctl",
  "coredns",
  "containerd",
  "containerd-shim-runc-v2",
  "ctr",
  "runc",
  "pause",
] as const;
export type BinaryName = (typeof BINARY_NAMES)[number];

/** CNI plugins in .tools/cni/bin (HAK_CNI_BIN_DIR overrides): the folder is kubelet's/containerd's CNI bin_dir. */
export const CNI_PLUGIN_NAMES = ["bridge", "host-local", "loopback", "portmap"] as const;
export type CniPluginName = (typeof CNI_PLUGIN_NAMES)[number];

export type ImageName = "pause" | "busybox";
export interface ImageInfo {
  /** The image reference containerd knows it by, e.g. hak.local/pause:3.10.1. */
  ref: string;
  /** The tarball (OCI layout + docker manifest.json) for `ctr images import`. */
  file: string;
}

const FIX = "run scripts/setup.sh (it builds the cluster's binaries and links them into .tools/)";

export function binDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.HAK_BIN_DIR || join(PROJECT_ROOT, ".tools", "bin");
}

export function cniBinDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.HAK_CNI_BIN_DIR || join(PROJECT_ROOT, ".tools", "cni", "bin");
}

export function imagesDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.HAK_IMAGES_DIR || join(PROJECT_ROOT, ".tools", "images");
}

/** Whether `path` is a file this process may execute. */
export function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The path of a cluster binary; throws a HakError naming it when it is not there. */
export function binaryPath(name: BinaryName, env: NodeJS.ProcessEnv = process.env): string {
  const p = join(binDir(env), name);
  if (!executable(p)) {
    throw new HakError(`${name} not found or not executable at ${p}`, {
      where: env.HAK_BIN_DIR ? "HAK_BIN_DIR" : ".tools/bin",
      fix: FIX,
    });
  }
  return p;
}

/** The CNI bin folder, checked to hold every plugin the cluster's CNI config uses. */
export function cniPluginDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = cniBinDir(env);
  const missing = CNI_PLUGIN_NAMES.filter((n) => !executable(join(dir, n)));
  if (missing.length > 0) {
    throw new HakError(`CNI plugin${missing.length > 1 ? "s" : ""} ${missing.join(", ")} not found in ${dir}`, {
      where: env.HAK_CNI_BIN_DIR ? "HAK_CNI_BIN_DIR" : ".tools/cni/bin",
      fix: FIX,
    });
  }
  return dir;
}

/** build/images.json: the one list of image names; the build script reads it too. */
export function imageInfo(name: ImageName): ImageInfo {
  const file = join(PROJECT_ROOT, "build", "images.json");
  const doc = JSON.parse(readFileSync(file, "utf8")) as Record<string, Partial<ImageInfo> | string>;
  const entry = doc[name];
  if (typeof entry !== "object" || typeof entry.ref !== "string" || typeof entry.file !== "string") {
    throw new HakError(`no ref/file for image ${name}`, { where: `build/images.json: ${name}` });
  }
  return { ref: entry.ref, file: entry.file };
}

/** The tarball of an image; throws a HakError naming it when setup has not built it. */
export function imageTarball(name: ImageName, env: NodeJS.ProcessEnv = process.env): string {
  const p = join(imagesDir(env), imageInfo(name).file);
  if (!existsSync(p)) throw new HakError(`image tarball for ${imageInfo(name).ref} not found at ${p}`, { where: ".tools/images", fix: FIX });
  return p;
}
