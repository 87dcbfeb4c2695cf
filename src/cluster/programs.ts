import { existsSync } from "node:fs";
import { join } from "node:path";
import { binaryPath, binDir, BINARY_NAMES, executable, cniPluginDir, imageInfo, imageTarball, type BinaryName } from "../common/binaries.js";
import { HakError } from "../common/errors.js";
import { PROJECT_ROOT } from "../common/paths.js";

/**
 * Program names of a plan -> what the local cluster executes: the built
 * binaries (src/common/binaries.ts: .tools/bin or HAK_BIN_DIR), haproxy and
 * keepalived from Debian, hak-agent from this checkout (built).
 */

export interface ImageRef {
  ref: string;
  file: string;
}

export interface Programs {
  binDir: string;
  cniBinDir: string;
  resolve(program: string): string[];
  images(): { pause: ImageRef; busybox: ImageRef };
}

const DEBIAN: Record<string, string> = { haproxy: "/usr/sbin/haproxy", keepalived: "/usr/sbin/keepalived" };

const isBinaryName = (n: string): n is BinaryName => (BINARY_NAMES as readonly string[]).includes(n);

export function localPrograms(env: NodeJS.ProcessEnv = process.env): Programs {
  return {
    binDir: binDir(env),
    get cniBinDir() {
      return cniPluginDir(env);
    },
    resolve(program) {
      if (program === "hak-agent") {
        if (!existsSync(join(PROJECT_ROOT, "dist", "agent", "cli.js"))) throw new HakError("hak-agent is not built", { where: "dist/agent/cli.js", fix: "run `npm run build`" });
        return [process.execPath, join(PROJECT_ROOT, "bin", "hak-agent.js")];
      }
      const debian = DEBIAN[program];
      if (debian) {
        if (!executable(debian)) throw new HakError(`${program} not found at ${debian}`, { where: "Debian package", fix: "run `bash scripts/setup.sh` (it installs haproxy and keepalived)" });
        return [debian];
      }
      if (!isBinaryName(program)) throw new HakError(`the plan names a program the local cluster does not know: ${program}`, { where: "plan services[].program" });
      return [binaryPath(program, env)];
    },
    images: () => ({
      pause: { ref: imageInfo("pause").ref, file: imageTarball("pause", env) },
      busybox: { ref: imageInfo("busybox").ref, file: imageTarball("busybox", env) },
    }),
  };
}

/** Everything the local cluster needs before it starts anything; one error naming all that is missing. */
export function checkPrograms(p: Programs, names: readonly string[]): void {
  const missing: string[] = [];
  const attempt = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      missing.push((err as Error).message);
    }
  };
  for (const n of [...names, "runc", "containerd-shim-runc-v2", "ctr", "kubectl"]) attempt(() => p.resolve(n));
  attempt(() => p.cniBinDir);
  attempt(() => p.images());
  if (missing.length > 0) throw new HakError(`the local cluster cannot start:\n  ${missing.join("\n  ")}`, { fix: "run `bash scripts/setup.sh` (it builds the cluster's binaries and images into .tools/)" });
}
