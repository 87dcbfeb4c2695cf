import { join } from "node:path";
import { InputError } from "../common/errors.js";
import { writeFileAtomic } from "../common/fsutil.js";
import { findHost, type Inventory } from "../common/inventory.js";
import { apiServerUrl, renderKubeconfig } from "../common/kubeconfig.js";
import { signCsr, type SignResult } from "../common/sign.js";
import { isProfileName, PROFILES, PROFILE_NAMES, requestSpec, type ProfileName } from "../common/profiles.js";
import type { VaultClient } from "../common/vault.js";
import { createCsr, generateKeyPair, type KeyType } from "../common/x509.js";

/**
 * `hak-pki issue`: a key made here, a CSR signed by Vault under the profile's
 * role. The private key never leaves this process except into a 0600 file.
 */

export interface SignedCert extends SignResult {
  profile: ProfileName;
  host: string | undefined;
  keyPem: string;
}

/** Checks PROFILE and --name against the inventory before anything talks to Vault. */
export function resolveProfile(inv: Inventory, profile: string, hostName: string | undefined): { profile: ProfileName; host: ReturnType<typeof findHost> } {
  if (!isProfileName(profile)) {
    throw new InputError(`unknown profile "${profile}"`, { where: "PROFILE", fix: `one of: ${PROFILE_NAMES.join(", ")}` });
  }
  const p = PROFILES[profile];
  if (!p.perHost) {
    if (hostName) throw new InputError(`profile ${profile} is shared by all hosts; drop --name`, { where: "--name" });
    return { profile, host: undefined };
  }
  if (!hostName) throw new InputError(`profile ${profile} is per host: --name HOST is needed`, { where: "--name" });
  const host = findHost(inv, hostName);
  if (!host) throw new InputError(`no host "${hostName}" in the inventory`, { where: "--name" });
  if (!p.hostRoles.includes(host.role)) {
    throw new InputError(`${hostName} has role ${host.role}; ${profile} is for ${p.hostRoles.join("/")} hosts`, { where: "--name" });
  }
  return { profile, host };
}

export async function signProfile(
  client: VaultClient,
  inv: Inventory,
  req: { profile: string; host?: string; keyType?: KeyType; ttl?: string },
): Promise<SignedCert> {
  const { profile, host } = resolveProfile(inv, req.profile, req.host);
  const spec = requestSpec(inv, profile, host);
  const kp = await generateKeyPair(req.keyType ?? "ec");
  const csr = await createCsr(kp, { commonName: spec.commonName, dns: spec.dns, ip: spec.ip });
  const signed = await signCsr(client, { profile, host: host?.name, csrPem: csr, commonName: spec.commonName, ttl: req.ttl });
  return { ...signed, profile, host: host?.name, keyPem: kp.privateKeyPem };
}

export interface WrittenFiles {
  cert?: string;
  key?: string;
  ca?: string;
  kubeconfig?: string;
}

/** Writes cert (0644), key (0600) and CA (0644) into `dir`, named after the profile (and host). */
export function writeCertFiles(dir: string, s: SignedCert): WrittenFiles {
  const base = s.host ? `${s.profile}-${s.host}` : s.profile;
  const files = { cert: join(dir, `${base}.crt`), key: join(dir, `${base}.key`), ca: join(dir, "ca.crt") };
  writeFileAtomic(files.key, s.keyPem, { mode: 0o600 });
  writeFileAtomic(files.cert, s.certPem, { mode: 0o644 });
  writeFileAtomic(files.ca, s.caPem, { mode: 0o644 });
  return files;
}

/** A kubeconfig (0600) for a kubernetes-CA client profile, pointing at the API endpoint. */
export function writeKubeconfigFile(path: string, inv: Inventory, s: SignedCert): string {
  const p = PROFILES[s.profile];
  if (p.ca !== "kubernetes" || p.usage === "server") {
    throw new InputError(`${s.profile} is not a Kubernetes client profile; a kubeconfig needs one (admin, super-admin, controller-manager, ...)`, {
      where: "--kubeconfig",
    });
  }
  const host = s.host ? findHost(inv, s.host) : undefined;
  writeFileAtomic(
    path,
    renderKubeconfig({
      clusterName: inv.name,
      server: apiServerUrl(inv),
      caPem: s.caPem,
      certPem: s.certPem,
      keyPem: s.keyPem,
      userName: p.commonName(host),
    }),
    { mode: 0o600 },
  );
  return path;
}
