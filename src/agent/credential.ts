import { createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { certLife } from "../common/lifetime.js";
import { readGenerationMetaIn } from "./writer.js";

/**
 * `hak-agent credential --cert F --key F`: a client-go credential plugin
 * (client.authentication.k8s.io/v1 ExecCredential) that hands a Kubernetes
 * component the certificate the agent keeps renewing on disk.
 *
 * Why a plugin and not certificate files or embedded data: client-go reads
 * embedded data once, and file-based client certificates are re-read for new
 * TLS handshakes but its open connections are only rotated every 5 minutes
 * (transport/cert_rotation.go), while the apiserver checks the client
 * certificate's validity on every request. A short-lived certificate then
 * expires under a long-lived connection (401s), and the component has to be
 * restarted on every renewal. With an ExecCredential carrying an
 * expirationTimestamp, client-go asks again once it passes, and when the
 * certificate has changed it closes its connections and dials new ones with
 * the new pair: renewal without a restart. A bonus: the kubeconfig no longer
 * holds a copy of the private key.
 *
 * Loaded on its own by bin/hak-agent.js (client-go runs it at start and at
 * each expiry): node built-ins, lifetime.ts and the writer's meta reader only.
 */

export const EXEC_API_VERSION = "client.authentication.k8s.io/v1";

export interface ExecCredential {
  apiVersion: typeof EXEC_API_VERSION;
  kind: "ExecCredential";
  status: { expirationTimestamp: string; clientCertificateData: string; clientKeyData: string };
}

/** The pair read from one generation of the agent's store (certificate, key, the agent's record of when it got it). */
export interface PairOnDisk {
  certPem: string;
  keyPem: string;
  obtainedAt?: Date;
}

/** Shortest and longest wait before asking again once the certificate is past its late point (agent late: Vault away). */
const RETRY_MIN_MS = 5_000;
const RETRY_MAX_MS = 60_000;

/**
 * When client-go should ask again: the certificate's late point (5/6 of its
 * life). The agent renews at 2/3 ± at most 15% of the lifetime (≤ 0.817), so
 * by then the next certificate is on disk, and a sixth of the life is left
 * for client-go to switch (20 s of a 2-minute certificate). Past that point
 * (the agent could not renew), soon again: a quarter of what is left,
 * between 5 s and a minute. Pure.
 */
export function credentialExpiry(notBefore: Date, notAfter: Date, now: Date, obtainedAt?: Date): Date {
  const late = certLife(notBefore, notAfter, { obtainedAt }).lateAt;
  if (late.getTime() - now.getTime() > 1000) return late;
  const left = notAfter.getTime() - now.getTime();
  return new Date(now.getTime() + Math.min(RETRY_MAX_MS, Math.max(RETRY_MIN_MS, left / 4)));
}

export class CredentialError extends Error {}

/** The ExecCredential for a pair; refuses a key that is not the certificate's and a certificate not valid now. Pure but for the crypto. */
export function execCredential(pair: PairOnDisk, now: Date): ExecCredential {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pair.certPem);
  } catch {
    throw new CredentialError("the certificate file holds no PEM certificate");
  }
  let matches = false;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(pair.keyPem));
  } catch {
    throw new CredentialError("the key file holds no PEM private key");
  }
  if (!matches) throw new CredentialError("the key does not belong to the certificate");
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  if (now.getTime() >= notAfter.getTime()) throw new CredentialError(`the certificate expired at ${notAfter.toISOString()} (is hak-agent running?)`);
  // RFC 3339 without fractions: what client-go's metav1.Time parses.
  const exp = credentialExpiry(notBefore, notAfter, now, pair.obtainedAt).toISOString().replace(/\.\d{3}Z$/, "Z");
  return { apiVersion: EXEC_API_VERSION, kind: "ExecCredential", status: { expirationTimestamp: exp, clientCertificateData: pair.certPem, clientKeyData: pair.keyPem } };
}

/**
 * Reads certificate and key from the same generation of the agent's store:
 * both paths are symlinks into `.hak-<name>/current/`, and the agent switches
 * `current` with one rename, so resolving both first and reading the
 * resolved files never pairs a new certificate with the old key. Files that
 * are not the agent's symlinks are read as they are.
 */
export function readPair(certFile: string, keyFile: string): PairOnDisk {
  for (let attempt = 0; ; attempt++) {
    const certReal = realpathSync(certFile);
    const keyReal = realpathSync(keyFile);
    const gen = dirname(certReal);
    // `current` switched between the two lookups: once more (files outside a store never agree; they are read as they are).
    if (dirname(keyReal) !== gen && attempt < 2) continue;
    const certPem = readFileSync(certReal, "utf8");
    const keyPem = readFileSync(keyReal, "utf8");
    // None outside the agent's store: the certificate's own validity decides.
    const meta = readGenerationMetaIn(gen);
    return { certPem, keyPem, obtainedAt: meta ? new Date(meta.obtainedAt) : undefined };
  }
}

/** The command a kubeconfig names to run this plugin: this Node and this package's bin/hak-agent.js, absolute. */
export function credentialCommand(certFile: string, keyFile: string): { command: string; args: string[] } {
  // The agent renders its kubeconfigs on every pass; the package does not move under a running process.
  entry ??= agentEntry();
  return { command: process.execPath, args: [entry, "credential", "--cert", certFile, "--key", keyFile] };
}

let entry: string | undefined;

/** bin/hak-agent.js of the package this module is part of (dist/, dist/agent/ and src/agent/ alike). */
export function agentEntry(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from, i = 0; i < 4; i++, dir = dirname(dir)) {
    const bin = join(dir, "bin", "hak-agent.js");
    if (existsSync(bin) && existsSync(join(dir, "package.json"))) return resolve(bin);
  }
  throw new Error(`bin/hak-agent.js not found above ${from}`);
}

const USAGE = "usage: hak-agent credential --cert CERT_FILE --key KEY_FILE\n  prints a client.authentication.k8s.io/v1 ExecCredential for a kubeconfig's exec entry\n";

/** The plugin's main: exit 0 with the ExecCredential on stdout, else 1 (2 for usage) with one line on stderr naming the file. Never prints key material but to stdout. */
export function credentialMain(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s), err: (s: string) => void = (s) => process.stderr.write(s)): number {
  let certFile: string | undefined;
  let keyFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--help" || a === "-h") {
      out(USAGE);
      return 0;
    }
    if ((a === "--cert" || a === "--key") && argv[i + 1] !== undefined) {
      if (a === "--cert") certFile = argv[++i];
      else keyFile = argv[++i];
      continue;
    }
    err(`hak-agent credential: unexpected argument ${JSON.stringify(a)}\n${USAGE}`);
    return 2;
  }
  if (!certFile || !keyFile) {
    err(`hak-agent credential: --cert and --key are both needed\n${USAGE}`);
    return 2;
  }
  let pair: PairOnDisk;
  try {
    pair = readPair(certFile, keyFile);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    err(`hak-agent credential: cannot read ${(e as NodeJS.ErrnoException).path ?? certFile}: ${code ?? (e as Error).message}${code === "ENOENT" ? " (has hak-agent written it yet?)" : ""}\n`);
    return 1;
  }
  try {
    out(`${JSON.stringify(execCredential(pair, new Date()))}\n`);
    return 0;
  } catch (e) {
    if (!(e instanceof CredentialError)) throw e;
    err(`hak-agent credential: ${certFile}: ${e.message}\n`);
    return 1;
  }
}
