import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import type { Inventory } from "../../src/common/inventory.js";
import { writeHive } from "../../src/deploy/hive.js";

/**
 * Debian's nix-instantiate (nix-bin 2.8) as the tests use it: pure evaluation
 * only, with no daemon and no store. `--store dummy://` evaluates without
 * opening /nix/store (anything that would copy a path into the store fails
 * instead of writing), and the state, log and config directories point into
 * a private temporary directory, so it works as root or not, with or without
 * a nix-daemon or /nix on the machine.
 */

export const NIX_DIR = join(PROJECT_ROOT, "nix");

export interface NixSandbox {
  dir: string;
  env: NodeJS.ProcessEnv;
  cleanup(): void;
}

export function nixSandbox(): NixSandbox {
  const dir = mkdtempSync(join(tmpdir(), "hak-nix-"));
  for (const d of ["state", "log", "conf", "home"]) mkdirSync(join(dir, d));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: join(dir, "home"),
    NIX_STATE_DIR: join(dir, "state"),
    NIX_LOG_DIR: join(dir, "log"),
    NIX_CONF_DIR: join(dir, "conf"),
    // No daemon: NIX_REMOTE must not point at one.
    NIX_REMOTE: "",
  };
  return { dir, env, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function nixInstantiate(): string {
  const found = spawnSync("nix-instantiate", ["--version"], { encoding: "utf8" });
  if (found.status !== 0)
    throw new Error("nix-instantiate not found: install Debian's nix-bin (scripts/setup.sh does)");
  return found.stdout.trim();
}

const BASE_ARGS = ["--store", "dummy://", "--option", "sandbox", "false", "--option", "restrict-eval", "false"];

/** `nix-instantiate --eval --strict --json` of an expression; throws with Nix's stderr on failure. */
export function evalNixJson(sb: NixSandbox, expr: string): unknown {
  const res = spawnSync("nix-instantiate", [...BASE_ARGS, "--eval", "--strict", "--json", "--expr", expr], {
    env: sb.env,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (res.status !== 0) throw new Error(`nix-instantiate --eval failed:\n${res.stderr}`);
  return JSON.parse(res.stdout);
}

/** Runs `nix-instantiate --parse FILE`; returns Nix's error text, or undefined when it parses. */
export function parseNixFile(sb: NixSandbox, file: string): string | undefined {
  const res = spawnSync("nix-instantiate", [...BASE_ARGS, "--parse", file], { env: sb.env, encoding: "utf8" });
  return res.status === 0 ? undefined : res.stderr.trim();
}

/**
 * Writes a hive with `hak-deploy hive`'s own writer (src/deploy/hive.ts) into
 * a folder of its own and returns that folder: the Nix side reads exactly
 * the files the deploy side produces (hive/plans/<host>.json).
 */
export function writeHiveDir(sb: NixSandbox, name: string, inv: Inventory): string {
  const dir = join(sb.dir, name);
  mkdirSync(dir, { recursive: true });
  writeHive(dir, inv);
  return join(dir, "hive");
}

/**
 * systemd's ExecStart words back from a command line as nix/lib writes it
 * (each word double-quoted with C escapes, `%%` and `$$` doubled): what
 * systemd passes the program.
 */
export function execWords(cmd: string): string[] {
  const out: string[] = [];
  for (const m of cmd.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) {
    const w = m[1] !== undefined ? m[1].replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c)) : m[2]!;
    out.push(w.replace(/%%/g, "%").replace(/\$\$/g, "$"));
  }
  return out;
}

/** A Nix string literal (JSON strings are valid Nix strings once `$` is escaped). */
export function nixString(s: string): string {
  return JSON.stringify(s).replace(/\$/g, "\\$");
}

/** A Nix path literal for an absolute path (spaces and all). */
export function nixPath(abs: string): string {
  return `(/. + ${nixString(abs)})`;
}

/** Every .nix file of the repository, relative to it (node_modules and .tools left out). */
export function repoNixFiles(root = PROJECT_ROOT): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (name === "node_modules" || name.startsWith(".") || name === "dist") continue;
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith(".nix")) out.push(relative(root, p));
    }
  };
  walk(root);
  return out.sort();
}

/** nixfmt on PATH (the RFC 166 formatter), if any. */
export function nixfmtBinary(): string | undefined {
  try {
    execFileSync("nixfmt", ["--version"], { stdio: "pipe" });
    return "nixfmt";
  } catch {
    return undefined;
  }
}
