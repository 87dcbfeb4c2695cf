import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, closeSync, renameSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { HakError } from "./errors.js";
import { writeFileAtomic } from "./fsutil.js";
import { baoBinary, PROJECT_ROOT } from "./paths.js";
import { generateKeyPair, x509 } from "./x509.js";
import { VaultClient } from "./vault.js";

/**
 * Starts OpenBao on this machine: `bao server -dev` (in memory, HTTP) for
 * quick tests, or a real server from vault-dev.hcl (raft storage, TLS,
 * init on first start, unseal on every start) for the demo and the tests of
 * the real path.
 */

export interface LocalBao {
  address: string;
  rootToken: string;
  /** CA of the server's TLS certificate (real server only). */
  caFile?: string;
  caPem?: string;
  pid: number | undefined;
  /** A root-token client; callers close it or call stop(). */
  client(): VaultClient;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

async function waitHealthy(client: VaultClient, proc: ChildProcess | undefined, logHint: string, timeoutMs = 30_000, acceptSealed = false): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    if (proc && proc.exitCode !== null) throw new HakError(`bao exited with status ${proc.exitCode} while starting`, { where: logHint });
    try {
      // sys/health answers 200 active, 429 standby, 501 uninitialised, 503 sealed.
      const res = await client.request("GET", "sys/health?standbyok=true&sealedcode=299&uninitcode=298", { token: null });
      const d = res as unknown as { initialized?: boolean; sealed?: boolean };
      if (d && (acceptSealed || (d.initialized && !d.sealed))) return;
      last = JSON.stringify(d);
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new HakError(`bao did not become ready in ${timeoutMs / 1000}s: ${last}`, { where: logHint });
}

function killAndWait(proc: ChildProcess): Promise<void> {
  return new Promise((res) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return res();
    proc.once("exit", () => res());
    proc.kill("SIGTERM");
    setTimeout(() => proc.kill("SIGKILL"), 5000).unref();
  });
}

/** `bao server -dev`: in memory, plain HTTP on loopback, a known root token. */
export async function startDevServer(opts: { port?: number; rootToken?: string } = {}): Promise<LocalBao> {
  const port = opts.port ?? (await freePort());
  const rootToken = opts.rootToken ?? `dev-root-${port}`;
  const address = `http://127.0.0.1:${port}`;
  const proc = spawn(
    baoBinary(),
    ["server", "-dev", `-dev-root-token-id=${rootToken}`, `-dev-listen-address=127.0.0.1:${port}`, "-dev-no-store-token", "-log-level=warn"],
    { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, HOME: process.env.HOME ?? "/tmp" } },
  );
  let stderr = "";
  proc.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const probe = new VaultClient({ addresses: [address] });
  try {
    await waitHealthy(probe, proc, `bao dev server on ${address}`);
  } catch (err) {
    await killAndWait(proc);
    throw new HakError(`${(err as Error).message}\n${stderr}`);
  } finally {
    await probe.close();
  }
  return {
    address,
    rootToken,
    pid: proc.pid,
    client: () => new VaultClient({ addresses: [address], token: rootToken }),
    stop: () => killAndWait(proc),
  };
}

export interface LocalServerOptions {
  /** Folder for storage, TLS files, init.json and the log (vault-dev.hcl's .state/bao). */
  stateDir: string;
  port: number;
  clusterPort: number;
  /** Keep running after this process exits (the demo); tests leave it attached. */
  detached?: boolean;
  /**
   * A second listener on this address (same port), e.g. the local cluster's
   * bridge address so hosts in their network namespaces reach the server;
   * the server certificate then carries it as an IP SAN too.
   */
  extraListenIp?: string;
}

interface InitFile {
  unseal_keys_b64: string[];
  root_token: string;
}

/** The config vault-dev.hcl describes, for this state folder and these ports. */
export function renderServerConfig(template: string, opts: LocalServerOptions): string {
  const state = resolve(opts.stateDir);
  const base = template
    .replaceAll(".state/bao", state)
    .replaceAll("127.0.0.1:8200", `127.0.0.1:${opts.port}`)
    .replaceAll("127.0.0.1:8201", `127.0.0.1:${opts.clusterPort}`);
  if (!opts.extraListenIp) return base;
  return `${base}
listener "tcp" {
  address         = "${opts.extraListenIp}:${opts.port}"
  tls_cert_file   = "${state}/tls/server.crt"
  tls_key_file    = "${state}/tls/server.key"
  tls_min_version = "tls12"
}
`;
}

/** The IP SANs of a PEM certificate (to tell whether the listener certificate covers an address). */
function certIps(pem: string): string[] {
  const ext = new x509.X509Certificate(pem).getExtension(x509.SubjectAlternativeNameExtension);
  return ext ? ext.names.items.filter((n) => n.type === "ip").map((n) => n.value) : [];
}

/** A CA and server certificate for the listener, made once per state folder. */
export async function ensureServerTls(tlsDir: string, extraIps: string[] = []): Promise<{ caFile: string; caPem: string }> {
  const caFile = join(tlsDir, "ca.crt");
  const srvFile = join(tlsDir, "server.crt");
  if (existsSync(caFile) && existsSync(srvFile) && existsSync(join(tlsDir, "server.key")) && extraIps.every((ip) => certIps(readFileSync(srvFile, "utf8")).includes(ip))) {
    return { caFile, caPem: readFileSync(caFile, "utf8") };
  }
  mkdirSync(tlsDir, { recursive: true, mode: 0o700 });
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const caKeys = await generateKeyPair("ec");
  const now = Date.now();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: ["hak local OpenBao CA"] }],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 10 * 365 * 86400_000),
    keys: caKeys.keys,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  const srvKeys = await generateKeyPair("ec");
  const srv = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: ["localhost"] }],
    issuer: ca.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 2 * 365 * 86400_000),
    publicKey: srvKeys.keys.publicKey,
    signingKey: caKeys.keys.privateKey,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: "dns", value: "localhost" },
        { type: "ip", value: "127.0.0.1" },
        { type: "ip", value: "::1" },
        ...extraIps.map((value) => ({ type: "ip" as const, value })),
      ]),
    ],
  });
  const caPem = ca.toString("pem") + "\n";
  writeFileAtomic(join(tlsDir, "server.key"), srvKeys.privateKeyPem, { mode: 0o600 });
  writeFileAtomic(join(tlsDir, "server.crt"), srv.toString("pem") + "\n", { mode: 0o644 });
  writeFileAtomic(caFile, caPem, { mode: 0o644 });
  // The CA key is not kept: the listener certificate is re-made with a new CA if ever lost.
  return { caFile, caPem };
}

function randomSerial(): string {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  b[0] = b[0]! & 0x7f;
  return Buffer.from(b).toString("hex");
}

/**
 * Starts (or reuses) the real server: TLS, raft storage in stateDir, initialised
 * on first start with one key share, unsealed on every start.
 */
export async function startLocalServer(opts: LocalServerOptions): Promise<LocalBao> {
  const stateDir = resolve(opts.stateDir);
  mkdirSync(join(stateDir, "data"), { recursive: true, mode: 0o700 });
  const { caFile, caPem } = await ensureServerTls(join(stateDir, "tls"), opts.extraListenIp ? [opts.extraListenIp] : []);
  const address = `https://127.0.0.1:${opts.port}`;
  const probe = new VaultClient({ addresses: [address], tls: { ca: caPem }, timeoutMs: 60_000 });
  let proc: ChildProcess | undefined;
  const logFile = join(stateDir, "server.log");
  try {
    const running = await probe.request("GET", "sys/health?standbyok=true&sealedcode=299&uninitcode=298", { token: null }).then(
      () => true,
      () => false,
    );
    if (!running) {
      const template = readFileSync(join(PROJECT_ROOT, "vault-dev.hcl"), "utf8");
      const configFile = join(stateDir, "server.hcl");
      writeFileAtomic(configFile, renderServerConfig(template, opts), { mode: 0o600 });
      const out = openSync(logFile, "a", 0o600);
      proc = spawn(baoBinary(), ["server", `-config=${configFile}`], {
        stdio: ["ignore", out, out],
        detached: opts.detached ?? false,
        cwd: stateDir,
      });
      closeSync(out);
      if (opts.detached) proc.unref();
      writeFileAtomic(join(stateDir, "bao.pid"), `${proc.pid}\n`, { mode: 0o644 });
      await waitHealthy(probe, proc, logFile, 30_000, true);
    }
    const init = await initAndUnseal(probe, stateDir);
    await waitHealthy(probe, proc, logFile);
    await waitActive(new VaultClient({ addresses: [address], tls: { ca: caPem }, token: init.root_token }), logFile);
    const child = proc;
    return {
      address,
      rootToken: init.root_token,
      caFile,
      caPem,
      pid: child?.pid ?? readPid(stateDir),
      client: () => new VaultClient({ addresses: [address], token: init.root_token, tls: { ca: caPem } }),
      stop: async () => {
        if (child) return killAndWait(child);
        const pid = readPid(stateDir);
        if (pid) await killPid(pid);
      },
    };
  } catch (err) {
    if (proc) await killAndWait(proc);
    throw err;
  } finally {
    await probe.close();
  }
}

async function initAndUnseal(client: VaultClient, stateDir: string): Promise<InitFile> {
  const initPath = join(stateDir, "init.json");
  const status = (await client.request("GET", "sys/init", { token: null })) as unknown as { initialized: boolean };
  let init: InitFile;
  if (!status.initialized) {
    const res = (await client.write("sys/init", { secret_shares: 1, secret_threshold: 1 }, { token: null })) as unknown as {
      keys_base64: string[];
      root_token: string;
    };
    init = { unseal_keys_b64: res.keys_base64, root_token: res.root_token };
    writeFileAtomic(initPath, JSON.stringify(init, null, 2) + "\n", { mode: 0o600 });
  } else {
    try {
      init = JSON.parse(readFileSync(initPath, "utf8")) as InitFile;
    } catch {
      throw new HakError("the server is initialised but its unseal key is not here", {
        where: initPath,
        fix: `remove ${stateDir} to start over with a new local server`,
      });
    }
  }
  const seal = (await client.request("GET", "sys/seal-status", { token: null })) as unknown as { sealed: boolean };
  if (seal.sealed) await client.write("sys/unseal", { key: init.unseal_keys_b64[0] }, { token: null });
  return init;
}

/** Raft needs a moment after unseal to elect itself; requests before that fail. */
async function waitActive(client: VaultClient, where: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  try {
    while (Date.now() < deadline) {
      try {
        await client.request("GET", "sys/mounts");
        return;
      } catch {
        await sleep(100);
      }
    }
    throw new HakError("the server was unsealed but did not become active", { where });
  } finally {
    await client.close();
  }
}

function readPid(stateDir: string, file = "bao.pid"): number | undefined {
  try {
    const n = Number(readFileSync(join(stateDir, file), "utf8").trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

async function killPid(pid: number): Promise<void> {
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(100);
  }
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    /* already gone */
  }
}

/** Stops a detached local server by its pid file; false when none was running. */
export async function stopLocalServer(stateDir: string): Promise<boolean> {
  const pid = readPid(resolve(stateDir));
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  await killPid(pid);
  return true;
}

/**
 * Rotates the local server's file audit log: audit.log -> audit.log.1 (older
 * ones shifted up to `keep`, the oldest removed), then SIGHUP to the server,
 * on which OpenBao's file audit device closes and reopens its file_path. Lines
 * written between the rename and the reopen land in audit.log.1, so none is
 * lost. With `maxBytes`, only when the log is at least that large (a size-based
 * rotation the demo can run every minute). Returns true when it rotated.
 */
export function rotateAudit(stateDir: string, opts: { keep?: number; maxBytes?: number; pid?: number } = {}): boolean {
  const dir = resolve(stateDir);
  const log = join(dir, "audit.log");
  const keep = opts.keep ?? 5;
  let size: number;
  try {
    size = statSync(log).size;
  } catch {
    return false;
  }
  if (opts.maxBytes !== undefined && size < opts.maxBytes) return false;
  const pid = opts.pid ?? readPid(dir);
  if (!pid) throw new HakError("no server pid to send SIGHUP to", { where: join(dir, "bao.pid"), fix: "start the server with startLocalServer (it writes bao.pid)" });
  rmSync(`${log}.${keep}`, { force: true });
  for (let i = keep - 1; i >= 1; i--) if (existsSync(`${log}.${i}`)) renameSync(`${log}.${i}`, `${log}.${i + 1}`);
  renameSync(log, `${log}.1`);
  process.kill(pid, "SIGHUP");
  return true;
}

/** Size-based rotation every `everyMs` until stopped (the demo's long runs). */
export function startAuditRotation(stateDir: string, opts: { maxBytes: number; keep?: number; everyMs?: number; pid?: number }): { stop(): void } {
  const t = setInterval(() => {
    try {
      rotateAudit(stateDir, opts);
    } catch {
      /* the server is restarting: next time */
    }
  }, opts.everyMs ?? 60_000);
  t.unref();
  return { stop: () => clearInterval(t) };
}

/** A local 3-node (or n-node) raft cluster: HA tests and the failover of clients. */
export interface LocalCluster {
  nodes: { address: string; pid: number | undefined; stop(): Promise<void>; kill(signal: NodeJS.Signals): Promise<void> }[];
  rootToken: string;
  caPem: string;
  caFile: string;
  /** A root client that knows every node's address. */
  client(): VaultClient;
  stop(): Promise<void>;
}

export interface LocalClusterOptions {
  /**
   * Raft's performance_multiplier: 1 (hak's choice, the production setting
   * Vault's documentation recommends) scales heartbeat and election timeouts
   * to their fastest; 0 leaves the line out, for the server default (equivalent to 5).
   */
  performanceMultiplier?: number;
  /** The nodes' API and cluster ports; default: free ports. */
  ports?: { api: number; cluster: number }[];
  /**
   * A second listener per node on this address (its own API port), which is
   * then the node's api_addr and an IP SAN of the listener certificate: the
   * local cluster's bridge address, where hosts in network namespaces reach it.
   */
  extraListenIp?: string;
  /**
   * Nodes outlive this process (the local cluster); a node already answering
   * on its port is reused. Their pids go to node<i>.pid in the state folder.
   */
  detached?: boolean;
  /** A file audit device "hak-file" writing here (every node the same path, as vault-dev.hcl's; bootstrap --audit-file checks it). */
  auditFile?: string;
}

/** OpenBao 2.7 refuses an explicit 0 ("HeartbeatTimeout is too low"): the server default is had by leaving the line out. */
function raftTiming(opts: LocalClusterOptions): string {
  const m = opts.performanceMultiplier ?? 1;
  return m > 0 ? `  performance_multiplier = ${m}\n` : "";
}

function raftNodeConfig(stateDir: string, i: number, ports: { api: number; cluster: number }[], opts: LocalClusterOptions = {}): string {
  const me = ports[i]!;
  const apiHost = opts.extraListenIp ?? "127.0.0.1";
  const joins = ports
    .filter((_, j) => j !== i)
    .map(
      (p) => `  retry_join {
    leader_api_addr     = "https://127.0.0.1:${p.api}"
    leader_ca_cert_file = "${stateDir}/tls/ca.crt"
  }`,
    )
    .join("\n");
  const extra = opts.extraListenIp
    ? `listener "tcp" {
  address         = "${opts.extraListenIp}:${me.api}"
  tls_cert_file   = "${stateDir}/tls/server.crt"
  tls_key_file    = "${stateDir}/tls/server.key"
}
`
    : "";
  const audit = opts.auditFile
    ? `audit "file" "hak-file" {
  description = "hak: every request, for auditing issuance"
  options {
    file_path = "${opts.auditFile}"
    mode      = "0600"
  }
}
`
    : "";
  return `disable_mlock = true
api_addr      = "https://${apiHost}:${me.api}"
cluster_addr  = "https://127.0.0.1:${me.cluster}"
log_level     = "warn"
storage "raft" {
  path    = "${stateDir}/node${i}"
  node_id = "node${i}"
${raftTiming(opts)}${joins}
}
listener "tcp" {
  address         = "127.0.0.1:${me.api}"
  cluster_address = "127.0.0.1:${me.cluster}"
  tls_cert_file   = "${stateDir}/tls/server.crt"
  tls_key_file    = "${stateDir}/tls/server.key"
}
${extra}${audit}`;
}

/** Starts raft node i from the config written in the state folder (detached or attached), its output appended to node<i>.log. */
function spawnRaftNode(dir: string, i: number, detached: boolean): ChildProcess {
  const out = openSync(join(dir, `node${i}.log`), "a", 0o600);
  try {
    const p = spawn(baoBinary(), ["server", `-config=${join(dir, `node${i}.hcl`)}`], { stdio: ["ignore", out, out], cwd: dir, detached });
    if (detached) {
      p.unref();
      writeFileAtomic(join(dir, `node${i}.pid`), `${p.pid}\n`, { mode: 0o644 });
    }
    return p;
  } finally {
    closeSync(out);
  }
}

/**
 * Starts n OpenBao nodes with integrated raft storage that join each other
 * (retry_join), initialises the first, unseals all with the one key share.
 */
export async function startLocalCluster(stateDir: string, n = 3, opts: LocalClusterOptions = {}): Promise<LocalCluster> {
  const dir = resolve(stateDir);
  const { caPem, caFile } = await ensureServerTls(join(dir, "tls"), opts.extraListenIp ? [opts.extraListenIp] : []);
  const ports: { api: number; cluster: number }[] = [];
  for (let i = 0; i < n; i++) ports.push(opts.ports?.[i] ?? { api: await freePort(), cluster: await freePort() });
  const procs: (ChildProcess | undefined)[] = [];
  const clients = ports.map((p) => new VaultClient({ addresses: [`https://127.0.0.1:${p.api}`], tls: { ca: caPem }, timeoutMs: 60_000 }));
  const answers = (c: VaultClient) =>
    c.request("GET", "sys/health?standbyok=true&sealedcode=299&uninitcode=298&perfstandbyok=true", { token: null }).then(
      () => true,
      () => false,
    );
  try {
    for (let i = 0; i < n; i++) {
      if (opts.detached && (await answers(clients[i]!))) {
        procs.push(undefined);
        continue;
      }
      mkdirSync(join(dir, `node${i}`), { recursive: true, mode: 0o700 });
      writeFileAtomic(join(dir, `node${i}.hcl`), raftNodeConfig(dir, i, ports, opts), { mode: 0o600 });
      procs.push(spawnRaftNode(dir, i, opts.detached ?? false));
    }
    for (let i = 0; i < n; i++) await waitHealthy(clients[i]!, procs[i], join(dir, `node${i}.log`), 30_000, true);
    const init = await initAndUnseal(clients[0]!, dir);
    await waitActive(new VaultClient({ addresses: [`https://127.0.0.1:${ports[0]!.api}`], tls: { ca: caPem }, token: init.root_token }), join(dir, "node0.log"));
    // A local cluster need not wait the default 10 s before promoting a joined node to voter.
    const first = new VaultClient({ addresses: ports.map((p) => `https://127.0.0.1:${p.api}`), tls: { ca: caPem }, token: init.root_token });
    // Retried: a loaded machine can see the new leader step down and re-elect once ("local node not active") right after unseal.
    try {
      for (let i = 0; ; i++) {
        const ok = await first.write("sys/storage/raft/autopilot/configuration", { server_stabilization_time: "2s" }).then(
          () => true,
          (err: unknown) => {
            if (i >= 60) throw err;
            return false;
          },
        );
        if (ok) break;
        await sleep(500);
      }
    } finally {
      await first.close();
    }
    // Followers join through retry_join once unsealed; unseal is retried until the join has happened.
    for (let i = 1; i < n; i++) await unsealUntilJoined(clients[i]!, init.unseal_keys_b64[0]!, join(dir, `node${i}.log`), `node${i}`);
    // Autopilot promotes joined nodes to voters only after they have been stable
    // for a while; until then losing the active node loses the quorum.
    const active = new VaultClient({ addresses: ports.map((p) => `https://127.0.0.1:${p.api}`), tls: { ca: caPem }, token: init.root_token });
    try {
      const deadline = Date.now() + 90_000;
      for (;;) {
        const conf = await active.read<{ config: { servers: { voter: boolean }[] } }>("sys/storage/raft/configuration").catch(() => undefined);
        const servers = conf?.config.servers ?? [];
        if (servers.length === n && servers.every((x) => x.voter)) break;
        if (Date.now() > deadline) throw new HakError(`raft: ${servers.filter((x) => x.voter).length} of ${n} nodes are voters after 90 s`, { where: dir });
        await sleep(500);
      }
    } finally {
      await active.close();
    }
  } catch (err) {
    await Promise.all(procs.map((p) => (p ? killAndWait(p) : undefined)));
    throw err;
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
  const rootToken = (JSON.parse(readFileSync(join(dir, "init.json"), "utf8")) as InitFile).root_token;
  const addresses = ports.map((p) => `https://127.0.0.1:${p.api}`);
  return {
    nodes: procs.map((p, i) => ({
      address: addresses[i]!,
      pid: p?.pid ?? readPid(dir, `node${i}.pid`),
      stop: async () => {
        if (p) return killAndWait(p);
        const pid = readPid(dir, `node${i}.pid`);
        if (pid) await killPid(pid);
      },
      kill: (signal: NodeJS.Signals) =>
        new Promise<void>((res) => {
          if (!p) {
            const pid = readPid(dir, `node${i}.pid`);
            if (pid) process.kill(pid, signal);
            return res();
          }
          if (p.exitCode !== null || p.signalCode !== null) return res();
          p.once("exit", () => res());
          p.kill(signal);
        }),
    })),
    rootToken,
    caPem,
    caFile,
    client: () => new VaultClient({ addresses, token: rootToken, tls: { ca: caPem } }),
    stop: async () => {
      await Promise.all(procs.map((p) => (p ? killAndWait(p) : undefined)));
    },
  };
}

/** Unseals a raft node, retried until it has joined (a node that has not joined yet stays sealed). */
async function unsealUntilJoined(client: VaultClient, key: string, where: string, name: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const seal = (await client.request("GET", "sys/seal-status", { token: null }).catch(() => ({ sealed: true }))) as unknown as { sealed: boolean };
    if (!seal.sealed) return;
    await client.write("sys/unseal", { key }, { token: null }).catch(() => undefined);
    if (Date.now() > deadline) throw new HakError(`${name} did not join and unseal`, { where });
    await sleep(250);
  }
}

/**
 * Starts raft node i of a detached local cluster again (after a kill), from
 * the config startLocalCluster wrote, and unseals it; returns its pid once
 * it is unsealed.
 */
export async function restartRaftNode(stateDir: string, i: number, apiPort: number): Promise<number> {
  const dir = resolve(stateDir);
  const caPem = readFileSync(join(dir, "tls", "ca.crt"), "utf8");
  const init = JSON.parse(readFileSync(join(dir, "init.json"), "utf8")) as InitFile;
  const p = spawnRaftNode(dir, i, true);
  const c = new VaultClient({ addresses: [`https://127.0.0.1:${apiPort}`], tls: { ca: caPem }, timeoutMs: 10_000 });
  try {
    await waitHealthy(c, undefined, join(dir, `node${i}.log`), 30_000, true);
    await unsealUntilJoined(c, init.unseal_keys_b64[0]!, join(dir, `node${i}.log`), `node${i}`);
  } finally {
    await c.close();
  }
  return p.pid!;
}
