import { HakError } from "../common/errors.js";
import { readTextIfAny as readText, writeFileAtomic } from "../common/fsutil.js";
import { renderKubeconfig } from "../common/kubeconfig.js";
import { credentialCommand } from "./credential.js";
import { holderUri } from "../common/names.js";
import { PROFILES } from "../common/profiles.js";
import { signCsr } from "../common/sign.js";
import type { VaultClient } from "../common/vault.js";
import { certFacts, createCsr, generateKeyPair, keyMatchesCert, signedBy, type CertFacts } from "../common/certs.js";
import type { CertificateOutput, KubeconfigOutput, OutputConfig, SecretOutput } from "./config.js";
import { resolveGid, resolveUid } from "./owners.js";
import type { CertOnDisk, WantedCert } from "./policy.js";
import { fsError, readGenerationMeta, writeCertGeneration, type CertContent, type Ownership } from "./writer.js";

/**
 * The I/O of each output kind: read what is on disk, obtain from Vault,
 * write. Decisions (reuse or renew, when) are in policy.ts.
 */

export interface CertState extends CertOnDisk {
  /** When the agent obtained the certificate on disk (from its generation's meta), if known. */
  obtainedAt?: Date;
  certPem?: string;
  keyPem?: string;
  caPem?: string;
}

export function readCertOnDisk(out: CertificateOutput): CertState {
  const certPem = readText(out.certFile);
  const keyPem = readText(out.keyFile);
  const caPem = readText(out.caFile);
  const meta = readGenerationMeta(out);
  let facts: CertFacts | null = null;
  try {
    facts = certPem ? certFacts(certPem) : null;
  } catch {
    facts = null;
  }
  return {
    facts,
    keyMatches: !!(certPem && keyPem && keyMatchesCert(keyPem, certPem)),
    signedByCa: out.caFile ? !!(certPem && caPem && signedBy(certPem, caPem)) : true,
    obtainedAt: meta ? new Date(meta.obtainedAt) : undefined,
    certPem,
    keyPem,
    caPem,
  };
}

export function wantedCert(out: CertificateOutput): WantedCert {
  return { profile: out.profile, commonName: out.commonName, dns: out.dns, ip: out.ip, keyType: out.keyType };
}

export function ownership(out: OutputConfig, where: string): Ownership {
  return { uid: resolveUid(out.owner, `${where}.owner`), gid: resolveGid(out.group, `${where}.group`), mode: out.mode };
}

/** Key made here, CSR signed by Vault at the profile's (per-host) role. The key never leaves this process but to the file. */
export async function obtainCertificate(client: VaultClient, host: string, out: CertificateOutput): Promise<CertContent & { serial: string }> {
  const kp = await generateKeyPair(out.keyType);
  // A shared profile's certificate names its holder (the role lets a host name only itself).
  const uri = PROFILES[out.profile].perHost ? [] : [holderUri(host)];
  const csr = await createCsr(kp, { commonName: out.commonName, dns: out.dns, ip: out.ip, uri });
  const s = await signCsr(client, { profile: out.profile, host, csrPem: csr, commonName: out.commonName, ttl: out.ttl ? `${out.ttl}s` : undefined });
  return { certPem: s.certPem, keyPem: kp.privateKeyPem, caPem: s.caPem, chainPem: s.chainPem, serial: s.serial };
}

export function writeCertificate(out: CertificateOutput, c: CertContent, own: Ownership, obtainedAt: Date): void {
  writeCertGeneration(out, c, own, { obtainedAt: obtainedAt.toISOString() });
}

export function renderKubeconfigFor(out: KubeconfigOutput, cert: CertificateOutput, onDisk: CertState): string | undefined {
  if (!onDisk.facts || !onDisk.keyMatches || !onDisk.certPem || !onDisk.keyPem) return undefined;
  const caPem = onDisk.caPem ?? readText(cert.chainFile);
  if (!caPem) throw new HakError(`certificate output "${cert.name}" has no caFile or chainFile to embed`, { where: `kubeconfig ${out.name}`, exitCode: 2 });
  const user = out.credential === "exec" ? { exec: credentialCommand(cert.certFile, cert.keyFile) } : { certPem: onDisk.certPem, keyPem: onDisk.keyPem };
  return renderKubeconfig({ clusterName: out.clusterName, server: out.server, caPem, ...user, userName: out.userName ?? onDisk.facts.commonName });
}

/** Writes a single-file output when its content differs; true when written. */
export function writeIfChanged(path: string, content: string, own: Ownership): boolean {
  if (readText(path) === content) return false;
  try {
    writeFileAtomic(path, content, own);
  } catch (err) {
    throw fsError("cannot write", path, err);
  }
  return true;
}

export async function readSecretField(client: VaultClient, out: SecretOutput): Promise<string> {
  const path = `${out.mount}/data/${out.secret}`;
  const d = await client.read<{ data?: Record<string, unknown> }>(path);
  const value = d?.data?.[out.field];
  if (d === undefined) throw new HakError("secret not found", { where: path });
  if (typeof value !== "string") throw new HakError(`field "${out.field}" is missing or not a string`, { where: path });
  return value.endsWith("\n") ? value : `${value}\n`;
}

export function secretOnDisk(out: SecretOutput | KubeconfigOutput): string | undefined {
  return readText(out.path);
}
