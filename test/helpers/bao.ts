import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, startDevServer, startLocalServer, type LocalBao } from "../../src/common/localbao.js";

/** A fresh `bao server -dev` for one test file. */
export async function devBao(): Promise<LocalBao> {
  return startDevServer();
}

/** A fresh real server (vault-dev.hcl: TLS, raft, init + unseal) in a temp folder. */
export async function realBao(): Promise<LocalBao & { stateDir: string; cleanup(): Promise<void> }> {
  const stateDir = mkdtempSync(join(tmpdir(), "hak-bao-"));
  const bao = await startLocalServer({ stateDir, port: await freePort(), clusterPort: await freePort() });
  return {
    ...bao,
    stateDir,
    cleanup: async () => {
      await bao.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
