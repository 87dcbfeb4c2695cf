import type { Inventory } from "../../src/common/inventory.js";
import { loopbackInventory } from "../helpers/inventory.js";
import { holderUri, PKI_MOUNT } from "../../src/common/names.js";
import { PROFILES, type ProfileName } from "../../src/common/profiles.js";
import type { CertFacts } from "../../src/common/x509.js";
import { backdateSeconds } from "../../src/common/lifetime.js";
import type { IssuedCert } from "../../src/pki/issued.js";

/** A small inventory for pure tests: one host per role. */
export function smallInventory(extraHosts: { name: string; role: "etcd" | "controlplane" | "worker" | "loadbalancer"; address: string }[] = []): Inventory {
  return loopbackInventory({
    name: "t",
    net: 30,
    hosts: [
      ["etcd1", "etcd"],
      ["cp1", "controlplane"],
      ["w1", "worker"],
    ],
    extraHosts,
  });
}

let serialCounter = 1;

/** The fixtures' host names say their role (etcd1, cp1, w1, lb1). */
const ROLE_OF_NAME: [RegExp, "etcd" | "controlplane" | "worker" | "loadbalancer"][] = [
  [/^etcd/, "etcd"],
  [/^(cp|controlplane)/, "controlplane"],
  [/^(w|worker)\d/, "worker"],
  [/^(lb|loadbalancer)/, "loadbalancer"],
];

/**
 * An issued-certificate record as listIssued returns it, for pure tests of the
 * fleet logic: signed at `signed`, valid until `notAfter`, its notBefore
 * backdated as hak's roles do for the fixtures' lifetime (smallInventory's default 720h).
 */
export function issued(profile: ProfileName, host: string | undefined, signed: Date, notAfter: Date, opts: { revoked?: boolean; holder?: string } = {}): IssuedCert {
  const notBefore = new Date(signed.getTime() - backdateSeconds(720 * 3600) * 1000);
  const serial = (serialCounter++).toString(16).padStart(2, "0");
  const ca = PROFILES[profile].ca;
  // The subject the profile's role gives (no SANs: fewer than planned is no anomaly).
  const role = host === undefined ? undefined : ROLE_OF_NAME.find(([re]) => re.test(host))?.[1];
  const h = host === undefined ? undefined : { name: host, role: role ?? PROFILES[profile].hostRoles[0] ?? "worker", address: "" };
  const org = PROFILES[profile].organization(h);
  const facts: CertFacts = {
    serial,
    commonName: PROFILES[profile].commonName(h),
    organization: org ? [org] : [],
    organizationalUnit: [`hak:${profile}`],
    issuerCommonName: ca,
    notBefore,
    notAfter,
    dns: [],
    ip: [],
    uri: opts.holder ? [holderUri(opts.holder)] : [],
    keyUsage: [],
    extKeyUsage: [],
    isCa: false,
    publicKeyAlgorithm: "ECDSA",
    fingerprintSha256: serial,
  };
  // listIssued maps a shared certificate to the holder its URI names.
  return { ca, mount: PKI_MOUNT[ca], serial, profile, host: host ?? opts.holder, facts, revoked: opts.revoked ?? false };
}

export const HOUR = 3600_000;
