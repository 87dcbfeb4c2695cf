import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository (or installed package) root: src/common and dist/common are both two levels down. */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The `bao` binary: HAK_BAO, else the one the setup script put in .tools/venv. */
export function baoBinary(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HAK_BAO) return env.HAK_BAO;
  const local = join(PROJECT_ROOT, ".tools", "venv", "bin", "bao");
  return existsSync(local) ? local : "bao";
}

export const POLICIES_DIR = join(PROJECT_ROOT, "policies");
