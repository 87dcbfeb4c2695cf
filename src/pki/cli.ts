import { join, resolve } from "node:path";
import { Command, Option } from "commander";
import { addInventoryOption, addVaultOptions, exitWith, inventoryFrom, runProgram, vaultFrom, type InventoryFlags, type VaultFlags } from "../common/cli.js";
import { InputError, errorMessage } from "../common/errors.js";
import { parseDuration } from "../common/duration.js";
import { rotateAudit, startLocalServer } from "../common/localbao.js";
import { PROFILE_NAMES } from "../common/profiles.js";
import { bootstrap } from "./bootstrap.js";
import { bootstrapPolicy } from "./bootstrap-policy.js";
import { signProfile, writeCertFiles, writeKubeconfigFile } from "./issue.js";
import { renderPlan } from "./render-plan.js";
import { readStatus, renderStatus } from "./status.js";
import { serveCommand } from "./serve/command.js";

type Flags = VaultFlags & InventoryFlags;

function print(s: string): void {
  process.stdout.write(s.endsWith("\n") ? s : `${s}\n`);
}

export function buildProgram(): Command {
  const program = new Command("hak-pki")
    .description("Reconciles Vault/OpenBao to the PKI of an HA Kubernetes cluster, issues and reports certificates.")
    .showHelpAfterError("(run with --help for usage)");

  addInventoryOption(
    addVaultOptions(
      program
        .command("bootstrap")
        .description("create or update mounts, CAs, roles, policies, auth and host identities to match the inventory")
        .option("--dry-run", "print the plan (create / update / delete / unchanged) and change nothing")
        .option("--audit-file <path>", "file audit device on the Vault server that must exist (OpenBao: declared in its config)")
        .option("--no-cel", "classic PKI roles only, even where OpenBao has CEL roles (IP SANs are then not pinned)")
        .option("-v, --verbose", "list unchanged objects too")
        .option("--json", "the plan as JSON")
        .option("--print-policy", "print the ACL policy of the credential bootstrap runs with, and exit (as root: bao policy write hak-bootstrap -)"),
    ),
  ).action(async (o: Flags & { dryRun?: boolean; auditFile?: string; verbose?: boolean; json?: boolean; cel: boolean; printPolicy?: boolean }) => {
    if (o.printPolicy) {
      print(bootstrapPolicy());
      return;
    }
    const inv = inventoryFrom(o);
    const client = vaultFrom(o);
    try {
      const started = performance.now();
      const plan = await bootstrap(client, inv, {
        dryRun: o.dryRun,
        auditFile: o.auditFile,
        cel: o.cel ? undefined : false,
        onStep: o.json ? undefined : (e) => process.stderr.write(`  ${e.action.padEnd(9)} ${e.id}\n`),
      });
      const seconds = (performance.now() - started) / 1000;
      if (o.json) print(JSON.stringify({ ...plan, entries: plan.entries.map(({ apply: _a, ...e }) => e), seconds }, null, 2));
      else print(renderPlan(plan, { cluster: inv.name, verbose: o.verbose ?? false, seconds }));
    } finally {
      await client.close();
    }
  });

  addInventoryOption(
    addVaultOptions(
      program
        .command("issue")
        .description("make a key here, have Vault sign a CSR for PROFILE, write cert, key (0600) and CA")
        .argument("<profile>", `one of: ${PROFILE_NAMES.join(", ")}`)
        .option("--name <host>", "the host, for per-host profiles (etcd-server, apiserver, kubelet, ...)")
        .option("--out <dir>", "folder for the files", ".")
        .option("--kubeconfig <file>", "also write a kubeconfig (admin, super-admin, controller-manager, scheduler, kubelet, kube-proxy)")
        .addOption(new Option("--key-type <type>", "private key type").choices(["ec", "rsa"]).default("ec"))
        .option("--ttl <duration>", "shorter lifetime than the role's, e.g. 8h")
        .option("--json", "report as JSON"),
    ),
  ).action(async (profile: string, o: Flags & { name?: string; out: string; kubeconfig?: string; keyType: "ec" | "rsa"; ttl?: string; json?: boolean }) => {
    const inv = inventoryFrom(o);
    const client = vaultFrom(o);
    try {
      const signed = await signProfile(client, inv, { profile, host: o.name, keyType: o.keyType, ttl: o.ttl });
      const files = writeCertFiles(resolve(o.out), signed);
      const kubeconfig = o.kubeconfig ? writeKubeconfigFile(resolve(o.kubeconfig), inv, signed) : undefined;
      const report = { profile: signed.profile, host: signed.host ?? null, serial: signed.serial, expires: signed.expiration.toISOString(), files: { ...files, kubeconfig } };
      if (o.json) print(JSON.stringify(report, null, 2));
      else
        print(
          [
            `issued ${signed.profile}${signed.host ? ` for ${signed.host}` : ""}: serial ${signed.serial}, expires ${report.expires}`,
            `  certificate  ${files.cert}`,
            `  key          ${files.key} (0600)`,
            `  CA           ${files.ca}`,
            ...(kubeconfig ? [`  kubeconfig   ${kubeconfig} (0600)`] : []),
          ].join("\n"),
        );
    } finally {
      await client.close();
    }
  });

  const status = addInventoryOption(
    addVaultOptions(
      program
        .command("status")
        .alias("check-expiration")
        .description("what Vault has issued and the CAs, with expiry and renewal times (like kubeadm certs check-expiration)")
        .option("--json", "as JSON"),
    ),
  );
  status.action(async (o: Flags & { json?: boolean }) => {
    const inv = inventoryFrom(o);
    const client = vaultFrom(o);
    try {
      const report = await readStatus(client, inv);
      print(o.json ? JSON.stringify(report, null, 2) : renderStatus(report));
      // Like kubeadm, the report itself succeeds; an expired certificate is worth a non-zero exit for scripts.
      if (report.certificates.some((c) => c.state === "expired")) exitWith(1);
    } finally {
      await client.close();
    }
  });

  program.addCommand(serveCommand());

  const local = program.command("local-server").description("the local OpenBao of vault-dev.hcl (demo and development)");
  local
    .command("start")
    .description("start it (or reuse it), initialise on first start, unseal, print the environment to use it")
    .option("--state-dir <dir>", "state folder", ".state/bao")
    .option("--port <port>", "API port", "8200")
    .option("--env", 'print only the export lines, for eval "$(hak-pki local-server start --env)"; the rest goes to stderr')
    .action(async (o: { stateDir: string; port: string; env?: boolean }) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 1 || port > 65534) throw new InputError(`not a port: ${o.port}`, { where: "--port" });
      const bao = await startLocalServer({ stateDir: o.stateDir, port, clusterPort: port + 1, detached: true });
      const stateDir = resolve(o.stateDir);
      const sq = (v: string) => `'${v.replaceAll("'", "'\\''")}'`;
      const exports = [
        `export VAULT_ADDR=${sq(bao.address)}`,
        `export VAULT_CACERT=${sq(bao.caFile ?? "")}`,
        `export VAULT_TOKEN="$(node -p 'require(process.argv[1]).root_token' ${sq(join(stateDir, "init.json"))})"`,
      ];
      const prose = [
        `OpenBao is running at ${bao.address} (pid ${bao.pid ?? "?"}); UI: ${bao.address}/ui`,
        `root token and unseal key: ${stateDir}/init.json (0600); audit log: ${stateDir}/audit.log`,
      ];
      if (o.env) {
        process.stderr.write(`${prose.join("\n")}\n`);
        print(exports.join("\n"));
        return;
      }
      print([...prose, "", `to use it: eval "$(hak-pki local-server start --env)", or:`, ...exports].join("\n"));
    });
  local
    .command("rotate-audit")
    .description("rotate the audit log (audit.log -> audit.log.1 ..., then SIGHUP: the file device reopens its file); with --every, keep doing it while the log passes --max-size")
    .option("--state-dir <dir>", "state folder", ".state/bao")
    .option("--max-size <bytes>", "rotate only once the log is at least this big (k, M, G suffixes)", "0")
    .option("--keep <n>", "rotated files kept", "5")
    .option("--every <duration>", "check again at this interval until stopped (SIGTERM), instead of once")
    .action(async (o: { stateDir: string; maxSize: string; keep: string; every?: string }) => {
      const m = /^(\d+)([kMG]?)$/.exec(o.maxSize);
      if (!m) throw new InputError(`not a size: ${JSON.stringify(o.maxSize)}`, { where: "--max-size", fix: "e.g. 64M" });
      const maxBytes = Number(m[1]) * ({ "": 1, k: 1024, M: 1024 ** 2, G: 1024 ** 3 } as Record<string, number>)[m[2]!]!;
      const keep = Number(o.keep);
      if (!Number.isInteger(keep) || keep < 1 || keep > 100) throw new InputError(`not a count from 1 to 100: ${o.keep}`, { where: "--keep" });
      const every = o.every === undefined ? undefined : parseDuration(o.every);
      if (o.every !== undefined && !every) throw new InputError(`not a duration: ${JSON.stringify(o.every)}`, { where: "--every", fix: "e.g. 60s" });
      if (every === undefined) {
        print(rotateAudit(o.stateDir, { maxBytes, keep }) ? "rotated" : "not rotated (no log, or smaller than --max-size)");
        return;
      }
      // The demo's long runs: a detached process the demo records and `demo stop` ends.
      await new Promise<void>((done) => {
        const tick = () => {
          try {
            if (rotateAudit(o.stateDir, { maxBytes, keep })) process.stderr.write(`${new Date().toISOString()} rotated ${o.stateDir}/audit.log\n`);
          } catch (err) {
            process.stderr.write(`${new Date().toISOString()} not rotated: ${errorMessage(err)}\n`);
          }
        };
        // The handler first: a SIGTERM that comes as the first rotation lands must stop it cleanly too.
        const t = setInterval(tick, every * 1000);
        process.once("SIGTERM", () => {
          clearInterval(t);
          done();
        });
        tick();
      });
    });
  local
    .command("stop")
    .description("stop it (data stays in the state folder)")
    .option("--state-dir <dir>", "state folder", ".state/bao")
    .action(async (o: { stateDir: string }) => {
      const { stopLocalServer } = await import("../common/localbao.js");
      print((await stopLocalServer(o.stateDir)) ? "stopped" : "not running");
    });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  return runProgram(buildProgram(), argv);
}
