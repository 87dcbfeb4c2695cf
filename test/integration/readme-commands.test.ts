import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { addCommonCommands } from "../../src/common/cli.js";
import type { LocalBao } from "../../src/common/localbao.js";
import { buildProgram as agentProgram, main as agentMain } from "../../src/agent/cli.js";
import { buildProgram as deployProgram, main as deployMain } from "../../src/deploy/cli.js";
import { buildProgram as pkiProgram, main as pkiMain } from "../../src/pki/cli.js";
import { devBao } from "../helpers/bao.js";

/**
 * The README's commands work (issue 13): every hak-pki, hak-deploy and
 * hak-agent command in its ```sh blocks names commands and options the
 * CLIs have, and its `--help` runs; the hak-pki block then runs for real
 * against a dev OpenBao, with the demo inventory for `inv.yaml`.
 */

const CLIS: Record<string, { program: () => Command; main: (argv: string[]) => Promise<number> }> = {
  "hak-pki": { program: pkiProgram, main: pkiMain },
  "hak-deploy": { program: deployProgram, main: deployMain },
  "hak-agent": { program: agentProgram, main: agentMain },
};

/** Splits a shell line into words: quotes kept together, no expansion. */
export function shellWords(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quote: string | undefined;
  let has = false;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else cur += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      has = true;
    } else if (/\s/.test(ch)) {
      if (has || cur) out.push(cur);
      cur = "";
      has = false;
    } else cur += ch;
  }
  if (has || cur) out.push(cur);
  return out;
}

/** Every hak-* command of the README's sh blocks, as words, with its line. */
export function readmeCommands(text: string): { line: string; words: string[] }[] {
  const blocks = [...text.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((m) => m[1]!);
  const out: { line: string; words: string[] }[] = [];
  for (const block of blocks) {
    const lines = block.replace(/\\\n\s*/g, " ").split("\n");
    for (const raw of lines) {
      const line = raw.replace(/(^|\s)#.*$/, "").trim();
      if (!line) continue;
      // `eval "$(hak-pki ...)"` and `a && b`: each command on its own.
      const inner = [...line.matchAll(/\$\(([^)]*)\)/g)].map((m) => m[1]!);
      const parts = [...inner, ...line.replace(/\$\([^)]*\)/g, "X").split(/&&|;|\|\|?/)];
      for (const p of parts) {
        const words = shellWords(p.trim());
        if (words[0] && words[0] in CLIS) out.push({ line, words });
      }
    }
  }
  return out;
}

/** The subcommand path and the options a command line uses, checked against the program. */
function resolve(program: Command, args: string[]): { path: string[]; unknown: string[] } {
  let cmd = addCommonCommands(program);
  const path: string[] = [];
  const unknown: string[] = [];
  const options = () => {
    const all: string[] = [];
    for (let c: Command | null = cmd; c; c = c.parent) for (const o of c.options) all.push(...[o.long, o.short].filter((f): f is string => !!f));
    return [...all, "--help", "-h"];
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith("-")) {
      const flag = a.split("=")[0]!;
      const known = options();
      if (!known.includes(flag)) unknown.push(flag);
      const opt = [...cmd.options, ...(cmd.parent?.options ?? [])].find((o) => o.long === flag || o.short === flag);
      if (opt && (opt.required || opt.optional) && !a.includes("=")) i++;
      continue;
    }
    const sub = cmd.commands.find((c) => c.name() === a || c.aliases().includes(a));
    if (sub && path.length === args.slice(0, i).filter((x) => !x.startsWith("-")).length) {
      cmd = sub;
      path.push(sub.name());
    }
  }
  return { path, unknown };
}

async function quiet(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const o = vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, "write").mockImplementation((s) => ((err += String(s)), true));
  try {
    return { code: await fn(), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

const readme = readFileSync("README.md", "utf8");
const commands = readmeCommands(readme);

describe("the README's commands", () => {
  it("are found (the parser can fail too)", () => {
    expect(commands.length).toBeGreaterThanOrEqual(15);
    for (const cli of Object.keys(CLIS)) expect(commands.some((c) => c.words[0] === cli), cli).toBe(true);
    expect(readmeCommands("```sh\nhak-pki nosuch --bogus\n```\n")).toEqual([{ line: "hak-pki nosuch --bogus", words: ["hak-pki", "nosuch", "--bogus"] }]);
    expect(resolve(pkiProgram(), ["status", "--bogus"]).unknown).toEqual(["--bogus"]);
    expect(resolve(pkiProgram(), ["nosuch"]).path).toEqual([]);
  });

  it.each(commands.map((c) => [c.line, c.words] as const))("%s: its command and options exist, and --help runs", async (_line, words) => {
    const cli = CLIS[words[0]!]!;
    const { path, unknown } = resolve(cli.program(), words.slice(1));
    expect(unknown, "options the CLI does not have").toEqual([]);
    // A bare program name is fine; otherwise the first word must be one of its commands.
    if (words.length > 1 && !words[1]!.startsWith("-")) expect(path.length, `no command ${words[1]}`).toBeGreaterThan(0);
    const r = await quiet(() => cli.main([...path, "--help"]));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Usage: /);
  });
});

describe("the README's hak-pki block, run against a dev OpenBao", () => {
  let bao: LocalBao;
  const dir = mkdtempSync(join(tmpdir(), "hak-readme-"));
  beforeAll(async () => {
    bao = await devBao();
  });
  afterAll(async () => {
    await bao?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("bootstrap --dry-run, bootstrap, issue and status do what the README says", async () => {
    const block = commands.filter((c) => c.words[0] === "hak-pki" && c.words.includes("inv.yaml"));
    expect(block.length).toBeGreaterThanOrEqual(5);
    const saved = { ...process.env };
    Object.assign(process.env, { VAULT_ADDR: bao.address, VAULT_TOKEN: bao.rootToken });
    delete process.env.VAULT_CACERT;
    try {
      // The count the README gives ("bootstraps in 0.9 s ... (133 objects") is what a fresh server gets.
      const claimed = Number(/fresh real OpenBao \((\d+)\s+objects/.exec(readme)?.[1]);
      const plan = await quiet(() => pkiMain(["bootstrap", "-i", "examples/demo-cluster.yaml", "--dry-run", "--json"]));
      expect((JSON.parse(plan.out) as { counts: { create: number } }).counts.create).toBe(claimed);
      for (const { line, words } of block) {
        const args = words.slice(1).map((w) => (w === "inv.yaml" ? "examples/demo-cluster.yaml" : w.startsWith("./") ? join(dir, w.slice(2)) : w));
        // A dev server has no file audit device (OpenBao makes those from its config file only): that check is vault-dev.hcl's, tested elsewhere.
        const at = args.indexOf("--audit-file");
        if (at >= 0) args.splice(at, 2);
        const r = await quiet(() => pkiMain(args));
        expect(r.code, `${line}\n${r.err}`).toBe(0);
      }
    } finally {
      process.env = saved;
    }
    expect(readFileSync(join(dir, "admin.conf"), "utf8")).toContain("client-certificate-data");
    expect(readFileSync(join(dir, "etcd1", "etcd-server-etcd1.crt"), "utf8")).toContain("BEGIN CERTIFICATE");
  });
});
