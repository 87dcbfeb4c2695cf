import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { promisify } from "node:util";
import { afterAll, describe, expect, it, vi } from "vitest";
import { addCommonCommands } from "../../src/common/cli.js";
import { bashCompletion, zshCompletion } from "../../src/common/completion.js";
import { freePort } from "../../src/common/localbao.js";
import { createLogger, formatLogLine } from "../../src/common/log.js";
import { buildProgram as agentProgram, main as agentMain } from "../../src/agent/cli.js";
import { buildProgram as deployProgram, main as deployMain } from "../../src/deploy/cli.js";
import { buildProgram as pkiProgram, main as pkiMain } from "../../src/pki/cli.js";
import { cliBin } from "../helpers/cli-bin.js";

/**
 * The CLIs as a shell user meets them (issue 13): --version, completion
 * scripts run by real bash and zsh, `eval "$(hak-pki local-server start
 * --env)"` in bash against the real local OpenBao, readable logs on a
 * terminal and JSON elsewhere.
 */

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "hak-shell-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function stdoutOf(fn: () => Promise<number>): Promise<{ code: number; out: string }> {
  let out = "";
  const o = vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
  try {
    return { code: await fn(), out };
  } finally {
    o.mockRestore();
  }
}

describe("the three CLIs", () => {
  it("--version prints package.json's version", async () => {
    const version = (JSON.parse(readFileSync("package.json", "utf8")) as { version: string }).version;
    for (const main of [pkiMain, agentMain, deployMain]) {
      expect(await stdoutOf(() => main(["--version"]))).toEqual({ code: 0, out: `${version}\n` });
    }
  });

  it("bash completes commands, subcommands, options and choices from the commander definitions; file names after a valued option", async () => {
    const file = join(dir, "hak-pki.bash");
    writeFileSync(file, bashCompletion(addCommonCommands(pkiProgram())));
    const script = `
      source ${JSON.stringify(file)}
      comp() { COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _hak_pki; echo "[\${COMPREPLY[*]}]"; }
      comp hak-pki sta
      comp hak-pki local-server ""
      comp hak-pki local-server start --e
      comp hak-pki -i inv.yaml bootstrap --dr
      comp hak-pki bootstrap -i ""
      comp hak-pki completion ""
      complete -p hak-pki`;
    const { stdout } = await run("bash", ["--norc", "-c", script]);
    expect(stdout.split("\n").filter(Boolean)).toEqual([
      "[status]",
      "[start rotate-audit stop --help]",
      "[--env]",
      "[--dry-run]",
      "[]",
      "[bash zsh --help]",
      "complete -o default -F _hak_pki hak-pki",
    ]);
    // Every CLI gets one, and each lists its own commands.
    expect(bashCompletion(addCommonCommands(deployProgram()))).toMatch(/words="hive plan enroll apply check .*"/);
    expect(bashCompletion(addCommonCommands(agentProgram()))).toMatch(/words="run once check .*"/);
  });

  it("zsh: the script parses, registers with compdef and offers the same words", async () => {
    const file = join(dir, "_hak-deploy");
    writeFileSync(file, zshCompletion(addCommonCommands(deployProgram())));
    await run("zsh", ["-n", file]);
    // compdef/compadd/_files stand in for zsh's completion system, which needs a terminal; the generated function runs for real.
    const script = `
      compdef() { print "compdef $*"; }
      compadd() { [[ $1 == -- ]] && shift; print -r -- "[$*]"; }
      _files() { print "[files]"; }
      source ${JSON.stringify(file)}
      words=(hak-deploy ""); CURRENT=2; _hak_deploy
      words=(hak-deploy check --par); CURRENT=3; _hak_deploy
      words=(hak-deploy apply -i ""); CURRENT=4; _hak_deploy`;
    const { stdout } = await run("zsh", ["-f", "-c", script]);
    const lines = stdout.split("\n").filter(Boolean);
    expect(lines[0]).toBe("compdef _hak_deploy hak-deploy");
    expect(lines[1]).toMatch(/^\[hive plan enroll apply check .*--version.*\]$/);
    expect(lines[2]).toMatch(/--parallel/);
    expect(lines[3]).toBe("[files]");
  });

  it('eval "$(hak-pki local-server start --env)" in bash sets a working VAULT_ADDR, VAULT_CACERT and VAULT_TOKEN', async () => {
    const bin = cliBin();
    const state = join(dir, "bao");
    const port = await freePort();
    const script = `
      set -e
      eval "$(hak-pki local-server start --env --state-dir ${state} --port ${port})"
      echo "addr=$VAULT_ADDR"
      echo "cacert=$VAULT_CACERT"
      echo "token=\${#VAULT_TOKEN}"
      hak-pki status -i examples/demo-cluster.yaml --json > /dev/null && echo "status ok"
      hak-pki local-server stop --state-dir ${state}`;
    try {
      const { stdout, stderr } = await run("bash", ["--norc", "-c", script], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, VAULT_ADDR: "", VAULT_TOKEN: "", VAULT_CACERT: "" }, timeout: 120_000 });
      expect(stdout).toContain(`addr=https://127.0.0.1:${port}`);
      expect(stdout).toContain(`cacert=${join(state, "tls", "ca.crt")}`);
      expect(stdout).toMatch(/token=[1-9]\d+/);
      expect(stdout).toContain("status ok");
      expect(stdout).toContain("stopped");
      // The prose went to stderr, where eval does not see it.
      expect(stderr).toContain("OpenBao is running at");
    } finally {
      await run(join(bin, "hak-pki"), ["local-server", "stop", "--state-dir", state]).catch(() => undefined);
      rmSync(bin, { recursive: true, force: true });
    }
  }, 180_000);
});

describe("logs", () => {
  it("JSON lines with ISO times when stderr is not a terminal, readable lines when it is", async () => {
    const capture = (tty: boolean) => {
      const out = Object.assign(new PassThrough(), { isTTY: tty });
      let text = "";
      out.on("data", (d: Buffer) => (text += d.toString()));
      const log = createLogger({ base: { svc: "hak-agent" }, out, format: undefined });
      log.info({ output: "etcd-server", serial: "1a:2b" }, "certificate written");
      log.warn({ reason: "no answer from vault" }, "retrying");
      return new Promise<string>((r) => setImmediate(() => r(text)));
    };
    const saved = process.env.HAK_LOG_FORMAT;
    delete process.env.HAK_LOG_FORMAT;
    try {
      const json = (await capture(false)).trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(json[0]).toMatchObject({ level: 30, svc: "hak-agent", output: "etcd-server", msg: "certificate written" });
      expect(String(json[0]!.time)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      const pretty = (await capture(true)).replace(/\x1b\[[0-9;]*m/g, "").trim().split("\n");
      expect(pretty[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO  hak-agent: certificate written {2}output=etcd-server serial=1a:2b$/);
      expect(pretty[1]).toMatch(/WARN  hak-agent: retrying {2}reason="no answer from vault"$/);
    } finally {
      if (saved !== undefined) process.env.HAK_LOG_FORMAT = saved;
    }
    expect(formatLogLine("not json")).toBe("not json");
  });
});
