import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/**
 * A folder with hak-pki, hak-agent and hak-deploy as a user has them on PATH
 * after setup (npm link), except that they run the sources (through tsx)
 * rather than dist, so a test sees the code it tests. Put it first on PATH.
 */
export function cliBin(): string {
  const root = resolve(".");
  const dir = mkdtempSync(join(tmpdir(), "hak-bin-"));
  for (const [name, which] of [
    ["hak-pki", "pki"],
    ["hak-agent", "agent"],
    ["hak-deploy", "deploy"],
  ] as const) {
    const file = join(dir, name);
    writeFileSync(file, `#!/bin/sh\nexec ${JSON.stringify(join(root, "node_modules/.bin/tsx"))} ${JSON.stringify(join(root, "test/helpers/run-cli.ts"))} ${which} "$@"\n`);
    chmodSync(file, 0o755);
  }
  return dir;
}
