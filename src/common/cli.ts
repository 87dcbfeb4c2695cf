import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Argument, Command, CommanderError, Option } from "commander";
import { bashCompletion, zshCompletion } from "./completion.js";
import { errorMessage, HakError, InputError } from "./errors.js";
import { loadInventory, type Inventory } from "./inventory.js";
import { PROJECT_ROOT } from "./paths.js";
import { clientFromConnection, vaultConnectionFromEnv, type VaultClient } from "./vault.js";

/**
 * What the three CLIs share: exit codes (0 ok, 1 failed, 2 bad usage or
 * input), one error line without a stack trace, the Vault and inventory
 * options with their environment variables.
 */

export interface VaultFlags {
  vaultAddr?: string;
  vaultToken?: string;
  vaultCacert?: string;
}

export interface InventoryFlags {
  inventory?: string;
}

export function addVaultOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--vault-addr <url>", "Vault/OpenBao address(es), comma-separated (env VAULT_ADDR, BAO_ADDR)"))
    .addOption(new Option("--vault-token <token>", "token (env VAULT_TOKEN, BAO_TOKEN); prefer the environment").hideHelp())
    .addOption(new Option("--vault-cacert <file>", "CA certificate of the server (env VAULT_CACERT, BAO_CACERT)"));
}

export function addInventoryOption(cmd: Command): Command {
  return cmd.option("-i, --inventory <file>", "the inventory, YAML or JSON (env HAK_INVENTORY)");
}

export function inventoryFrom(flags: InventoryFlags, env = process.env): Inventory {
  const file = flags.inventory ?? env.HAK_INVENTORY;
  if (!file) throw new InputError("no inventory given", { where: "--inventory", fix: "pass -i FILE or set HAK_INVENTORY" });
  return loadInventory(file, flags.inventory !== undefined ? "--inventory" : "HAK_INVENTORY");
}

export function vaultFrom(flags: VaultFlags, env = process.env): VaultClient {
  const conn = vaultConnectionFromEnv(env, flags);
  if (!conn.token) throw new InputError("no Vault token", { where: "VAULT_TOKEN", fix: "export VAULT_TOKEN (or BAO_TOKEN)" });
  return clientFromConnection(conn);
}

/** hak's version, from its package.json. */
export function hakVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8")) as { version?: string }).version ?? "unknown";
  } catch {
    return "unknown";
  }
}

/**
 * What every CLI has besides its own commands: `--version`, and
 * `completion bash|zsh` generated from the program's own definitions.
 */
export function addCommonCommands(program: Command): Command {
  if (!program.version()) program.version(hakVersion(), "-V, --version", "print the version");
  if (!program.commands.some((c) => c.name() === "completion")) {
    program
      .command("completion")
      .description(`print a shell completion script: eval "$(${program.name()} completion bash)" in ~/.bashrc, or the zsh one into a folder of $fpath`)
      .addArgument(new Argument("<shell>", "bash or zsh").choices(["bash", "zsh"]))
      .action((shell: "bash" | "zsh") => {
        process.stdout.write(shell === "bash" ? bashCompletion(program) : zshCompletion(program));
      });
  }
  return program;
}

/** Runs a commander program; maps errors to exit codes and prints them once. */
export async function runProgram(program: Command, argv: string[]): Promise<number> {
  addCommonCommands(program);
  let code = 0;
  const override = (c: Command) => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  override(program);
  setExitCode = (c) => {
    code = c;
  };
  try {
    await program.parseAsync(argv, { from: "user" });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; usage errors were printed by commander.
      return err.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(`error: ${errorMessage(err)}\n`);
    return err instanceof HakError ? err.exitCode : 1;
  }
}

let setExitCode: (c: number) => void = () => {};

/** A command reports a failure (e.g. `status` with expired certificates) without throwing. */
export function exitWith(code: number): void {
  setExitCode(code);
}
