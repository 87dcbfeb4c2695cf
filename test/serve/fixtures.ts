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

/**
 * An issued-certificate record as listIssued returns it, for pure tests of the
 * fleet logic: signed at `signed`, valid until `notAfter`, its notBefore
 * backdated as hak's roles do for the fixtures' lifetime (smallInventory's default 720h).
 */
export function issued(profile: ProfileName, host: string | undefined, signed: Date, notAfter: Date, opts: { revoked?: boolean; holder?: string } = {}): IssuedCert {
  const notBefore = new Date(signed.getTime() - backdateSeconds(720 * 3600) * 1000);
  const serial = (serialCounter++).toString(16).padStart(2, "0");
  const ca = PROFILES[profile].ca;
  const facts: CertFacts = {
    serial,
    commonName: host ?? profile,
    organization: [],
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
