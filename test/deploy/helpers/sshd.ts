import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * A real OpenSSH sshd (Debian openssh-server) for tests: its own host key and
 * config in a temp folder, listening on one loopback address and port, letting
 * root in with a key the test made. Several of them on 127.0.0.x stand for
 * several hosts.
 */

export interface TestSshd {
  address: string;
  port: number;
  dir: string;
  /** `ssh-ed25519 AAAA...` of the host key, as known_hosts wants it. */
  hostKeyPub: string;
  /** A path as this "host" sees it (through its own mount namespace, if it has one). */
  hostPath(path: string): string;
  stop(): Promise<void>;
}

export interface ClientKey {
  privateKeyFile: string;
  publicKey: string;
}

/** A fresh ed25519 key pair, without passphrase. */
export function makeKey(dir: string, name: string): ClientKey {
  const file = join(dir, name);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", file]);
  return { privateKeyFile: file, publicKey: readFileSync(`${file}.pub`, "utf8").trim() };
}

export function hostKeyPubOnly(line: string): string {
  return line.split(/\s+/).slice(0, 2).join(" ");
}

async function waitListening(address: string, port: number, proc: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`sshd exited with ${proc.exitCode}: ${log()}`);
    const ok = await new Promise<boolean>((res) => {
      const s = connect({ host: address, port }, () => {
        s.destroy();
        res(true);
      });
      s.on("error", () => res(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`sshd did not listen on ${address}:${port}: ${log()}`);
}

/**
 * With `privateDir`, sshd runs in its own mount namespace with a fresh tmpfs
 * on that folder, so every "host" has its own copy of it (e.g. the agent's
 * state folder) although all of them run on this machine.
 */
export async function startSshd(opts: { address: string; port: number; authorizedKeys: string[]; privateDir?: string }): Promise<TestSshd> {
  const dir = mkdtempSync(join(tmpdir(), "hak-sshd-"));
  const hostKey = makeKey(dir, "ssh_host_ed25519_key");
  writeFileSync(join(dir, "authorized_keys"), `${opts.authorizedKeys.join("\n")}\n`, { mode: 0o600 });
  // sshd's privilege separation folder; Debian's package creates it at boot only.
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const config = [
    `ListenAddress ${opts.address}:${opts.port}`,
    `HostKey ${hostKey.privateKeyFile}`,
    `PidFile ${join(dir, "sshd.pid")}`,
    `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
    // The temp folder is not root-owned 0755 all the way up; this sshd is only for the test.
    "StrictModes no",
    "PermitRootLogin prohibit-password",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "UsePAM no",
    "LogLevel ERROR",
  ].join("\n");
  writeFileSync(join(dir, "sshd_config"), `${config}\n`);
  let stderr = "";
  const sshd = ["/usr/sbin/sshd", "-D", "-e", "-f", join(dir, "sshd_config")];
  const argv = opts.privateDir
    ? ["unshare", "--mount", "--propagation", "private", "sh", "-c", `mount -t tmpfs -o mode=0755 hak-test "$0" && exec "$@"`, opts.privateDir, ...sshd]
    : sshd;
  if (opts.privateDir) mkdirSync(opts.privateDir, { recursive: true });
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
  proc.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  await waitListening(opts.address, opts.port, proc, () => stderr);
  return {
    address: opts.address,
    port: opts.port,
    dir,
    hostKeyPub: hostKeyPubOnly(hostKey.publicKey),
    // unshare and sh exec, so the child's pid is sshd's and /proc/<pid>/root is its mount namespace.
    hostPath: (path) => (opts.privateDir ? `/proc/${proc.pid}/root${path}` : path),
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        const done = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGTERM");
        await done;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
