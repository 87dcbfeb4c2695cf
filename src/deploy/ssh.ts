import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { Client, type ConnectConfig, type ServerHostKeyAlgorithm } from "ssh2";
import { HakError, InputError, readInputFile } from "../common/errors.js";
import {
  fingerprint,
  keyBlobType,
  knownHostsLine,
  knownHostsName,
  knownKeyTypes,
  parseKnownHosts,
  verifyHostKey,
  type HostKeyVerdict,
  type ParsedKnownHosts,
} from "./known-hosts.js";
import { shellQuote } from "./shell.js";

/**
 * SSH to the cluster's hosts with ssh2, checking host keys against an
 * OpenSSH known_hosts file the way `StrictHostKeyChecking=yes` does (or
 * `accept-new`, when the operator asks for it). A changed key is never
 * accepted: the error carries the exact `ssh-keygen -R` line to run once the
 * operator has checked the machine was re-created.
 */

export interface SshSettings {
  user: string;
  port: number;
  /** PEM/OpenSSH private key; else the agent at `agentSocket`. */
  privateKey?: string;
  passphrase?: string;
  agentSocket?: string;
  knownHostsFile: string;
  /** Record the key of a host that has no entry yet (never replaces an entry). */
  acceptNew: boolean;
  connectTimeoutMs: number;
}

export interface SshTarget {
  /** Inventory name, for messages and as a second known_hosts name. */
  name: string;
  address: string;
  port?: number;
}

export interface ExecResult {
  code: number | null;
  signal: string | undefined;
  stdout: string;
  stderr: string;
}

/** ssh2's names for the host-key algorithms a known_hosts key type can verify. */
const ALGORITHMS_FOR_KEY_TYPE: Record<string, ServerHostKeyAlgorithm[]> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
  "ssh-dss": ["ssh-dss"],
};

/** Reads the known_hosts file once per run; a missing file is an empty one (every host unknown). */
export class KnownHosts {
  private parsed: ParsedKnownHosts;
  constructor(readonly file: string) {
    this.parsed = existsSync(file) ? parseKnownHosts(readFileSync(file, "utf8")) : { entries: [], problems: [] };
  }
  get problems() {
    return this.parsed.problems;
  }
  verify(names: string[], blob: Buffer): HostKeyVerdict {
    return verifyHostKey(this.parsed, names, blob);
  }
  keyTypes(names: string[]): string[] {
    return knownKeyTypes(this.parsed, names);
  }
  /** Appends an accepted key and re-reads, so later hosts of the run see it. */
  add(name: string, blob: Buffer): void {
    appendFileSync(this.file, knownHostsLine(name, blob), { mode: 0o600 });
    this.parsed = parseKnownHosts(readFileSync(this.file, "utf8"));
  }
}

export class HostKeyError extends HakError {
  constructor(message: string, opts: { where: string; fix: string }) {
    super(message, opts);
    this.name = "HostKeyError";
  }
}

function hostKeyError(target: SshTarget, name: string, verdict: HostKeyVerdict, blob: Buffer, kh: KnownHosts): HostKeyError {
  const where = `${target.name} (${name})`;
  const offered = `${keyBlobType(blob)} ${fingerprint(blob)}`;
  switch (verdict.kind) {
    case "changed":
      return new HostKeyError(
        `HOST KEY CHANGED: the host offers ${offered}, ${kh.file} line ${verdict.lines.join(", ")} has another key (${verdict.knownTypes.join(", ")}). ` +
          "Either the machine was re-created, or someone is intercepting the connection; refusing to connect.",
        {
          where,
          fix:
            `if the machine was re-created, check ${fingerprint(blob)} on its console (ssh-keygen -lf /etc/ssh/ssh_host_${keyBlobType(blob).replace(/^ssh-|-sha2-nistp\d+$/g, "")}_key.pub), then run: ` +
            verdict.names.map((n) => `ssh-keygen -R ${shellQuote(n)} -f ${shellQuote(kh.file)}`).join(" && ") +
            ` and enroll again with --accept-new`,
        },
      );
    case "revoked":
      return new HostKeyError(`the host offers ${offered}, which ${kh.file} line ${verdict.line} marks @revoked; refusing to connect`, {
        where,
        fix: "the host must get a new host key; never remove the @revoked line to get past this",
      });
    default:
      return new HostKeyError(`unknown host: ${kh.file} has no key for ${name}; it offers ${offered}`, {
        where,
        fix: `check ${fingerprint(blob)} on the machine's console, then pass --accept-new to record it (or add it to ${kh.file} yourself)`,
      });
  }
}

/** An open SSH connection to one host. */
export class SshSession {
  private constructor(
    private readonly client: Client,
    readonly target: SshTarget,
  ) {}

  static async connect(target: SshTarget, s: SshSettings, kh: KnownHosts): Promise<SshSession> {
    const port = target.port ?? s.port;
    const name = knownHostsName(target.address, port);
    // The address first (what we dial), then the inventory name, as ssh's CheckHostIP does the reverse.
    const names = [name, knownHostsName(target.name, port)];
    const types = kh.keyTypes(names);
    const algorithms = types.flatMap((t) => ALGORITHMS_FOR_KEY_TYPE[t] ?? []);
    let refusal: HostKeyError | undefined;
    const client = new Client();
    const config: ConnectConfig = {
      host: target.address,
      port,
      username: s.user,
      privateKey: s.privateKey,
      passphrase: s.passphrase,
      agent: s.privateKey ? undefined : s.agentSocket,
      readyTimeout: s.connectTimeoutMs,
      keepaliveInterval: 10_000,
      // Ask for the key types we can check, so a host with several keys shows the one we know.
      algorithms: algorithms.length > 0 ? { serverHostKey: algorithms } : undefined,
      hostVerifier: (blob: Buffer): boolean => {
        const verdict = kh.verify(names, blob);
        if (verdict.kind === "known") return true;
        if (verdict.kind === "unknown" && s.acceptNew) {
          kh.add(name, blob);
          return true;
        }
        refusal = hostKeyError(target, name, verdict, blob, kh);
        return false;
      },
    };
    return new Promise((resolve, reject) => {
      client.once("ready", () => {
        // Later errors (a dropped connection) end the running command's stream; an
        // unhandled 'error' event would take the whole run down with it.
        client.on("error", () => undefined);
        resolve(new SshSession(client, target));
      });
      client.once("error", (err: Error & { level?: string; code?: string }) => {
        client.end();
        if (refusal) return reject(refusal);
        reject(connectError(target, port, s, err));
      });
      client.connect(config);
    });
  }

  /** Runs a command; `stdin` is written and closed (secrets go this way, never in argv). */
  exec(command: string, stdin?: string, timeoutMs = 60_000): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, stream) => {
        if (err) return reject(new HakError(`cannot run a command: ${err.message}`, { where: this.target.name }));
        let stdout = "";
        let stderr = "";
        const timer = setTimeout(() => {
          stream.close();
          reject(new HakError(`command did not finish in ${timeoutMs / 1000}s`, { where: this.target.name }));
        }, timeoutMs);
        stream.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
        stream.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
        stream.on("close", (code: number | null, signal?: string) => {
          clearTimeout(timer);
          resolve({ code: code ?? null, signal, stdout, stderr });
        });
        stream.end(stdin ?? "");
      });
    });
  }

  close(): void {
    this.client.end();
  }
}

function connectError(target: SshTarget, port: number, s: SshSettings, err: Error & { level?: string; code?: string }): HakError {
  const where = `${target.name} (${s.user}@${target.address}:${port})`;
  if (err.code === "ECONNREFUSED") return new HakError("connection refused: no SSH server listens there", { where, fix: "check that the host is up and sshd listens on that port (--ssh-port)" });
  if (err.code === "EHOSTUNREACH" || err.code === "ENETUNREACH") return new HakError(`host unreachable (${err.code})`, { where, fix: "check the address in the inventory and the network" });
  if (err.level === "client-timeout" || /timed out/i.test(err.message))
    return new HakError(`no SSH handshake within ${s.connectTimeoutMs / 1000}s`, { where, fix: "check that the host is up and reachable" });
  if (err.level === "client-authentication")
    return new HakError(`the host refused our key for user ${s.user}`, { where, fix: "check --ssh-user and --ssh-key (or the agent in SSH_AUTH_SOCK) and the user's authorized_keys" });
  return new HakError(`SSH failed: ${err.message}`, { where });
}

export interface SshFlags {
  sshUser?: string;
  sshPort?: string;
  sshKey?: string;
  knownHosts?: string;
  acceptNew?: boolean;
  connectTimeout?: string;
}

/**
 * SSH settings from flags, then HAK_SSH_* variables, then OpenSSH's usual
 * places: the agent in SSH_AUTH_SOCK, else ~/.ssh/id_ed25519, id_ecdsa, id_rsa.
 */
export function sshSettingsFrom(flags: SshFlags, env: NodeJS.ProcessEnv = process.env): SshSettings {
  const user = flags.sshUser ?? env.HAK_SSH_USER ?? "root";
  const portText = flags.sshPort ?? env.HAK_SSH_PORT ?? "22";
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new InputError(`not a port: ${JSON.stringify(portText)}`, { where: flags.sshPort !== undefined ? "--ssh-port" : "HAK_SSH_PORT" });
  const timeoutText = flags.connectTimeout ?? "15";
  const timeout = Number(timeoutText);
  if (!(timeout > 0)) throw new InputError(`not a number of seconds: ${JSON.stringify(timeoutText)}`, { where: "--connect-timeout" });
  const home = env.HOME ?? homedir();
  const knownHostsFile = flags.knownHosts ?? env.HAK_KNOWN_HOSTS ?? join(home, ".ssh", "known_hosts");
  const keyFile = flags.sshKey ?? env.HAK_SSH_KEY;
  let privateKey: string | undefined;
  let agentSocket: string | undefined;
  if (keyFile) {
    privateKey = readKey(keyFile, flags.sshKey !== undefined ? "--ssh-key" : "HAK_SSH_KEY");
  } else if (env.SSH_AUTH_SOCK) {
    agentSocket = env.SSH_AUTH_SOCK;
  } else {
    const found = ["id_ed25519", "id_ecdsa", "id_rsa"].map((f) => join(home, ".ssh", f)).find((f) => existsSync(f));
    if (!found) throw new InputError("no SSH key: no --ssh-key, no HAK_SSH_KEY, no agent (SSH_AUTH_SOCK) and no ~/.ssh/id_*", { where: "--ssh-key" });
    privateKey = readKey(found, found);
  }
  return {
    user,
    port,
    privateKey,
    passphrase: env.HAK_SSH_KEY_PASSPHRASE,
    agentSocket,
    knownHostsFile,
    acceptNew: flags.acceptNew ?? false,
    connectTimeoutMs: timeout * 1000,
  };
}

function readKey(file: string, where: string): string {
  return readInputFile(file, "the SSH private key", { where: `${where} ${file}` });
}
