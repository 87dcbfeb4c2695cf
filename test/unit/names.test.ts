import { describe, expect, it } from "vitest";
import { hostSchema, parseInventory } from "../../src/common/inventory.js";
import { HOST_SEPARATOR, hostObjectNames, objectNameClashes, parsePkiRoleName, pkiRoleName } from "../../src/common/names.js";
import { PROFILES, PROFILE_NAMES } from "../../src/common/profiles.js";
import { seededRandom } from "../helpers/random.js";

/**
 * Per-host Vault object names are injective: no two (host, profile) pairs,
 * and no per-host and shared pair, share a name, whatever host names the
 * inventory holds. Property tests over generated names, biased towards the
 * shapes that broke the old "<profile>-<host>" scheme (host names that start
 * with a profile's tail, such as "serving-w1").
 */

const SEED = Number(process.env.HAK_SEED ?? 1010);
const PER_HOST = PROFILE_NAMES.filter((p) => PROFILES[p].perHost);
const SHARED = PROFILE_NAMES.filter((p) => !PROFILES[p].perHost);

/** Profile-name fragments: "serving", "peer", "identity", "etcd", ... */
const FRAGMENTS = [...new Set(PROFILE_NAMES.flatMap((p) => p.split("-")))];

function hostName(r: () => number): string {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const alnum = "abcdefghijklmnopqrstuvwxyz0123456789".split("");
  const word = () => Array.from({ length: 1 + Math.floor(r() * 4) }, () => pick(alnum)).join("");
  const parts = Array.from({ length: 1 + Math.floor(r() * 3) }, () => (r() < 0.5 ? pick(FRAGMENTS) : word()));
  return parts.join("-").slice(0, 63).replace(/-+$/, "") || "h";
}

describe("per-host object names", () => {
  it("every generated host name the schema accepts gives names no other (host, profile) pair has", () => {
    const r = seededRandom(SEED);
    for (let round = 0; round < 200; round++) {
      const drawn = Array.from({ length: 2 + Math.floor(r() * 30) }, () => hostName(r));
      // Pairs like "w1" and "serving-w1": the shape that made the old scheme collide.
      const paired = drawn.flatMap((n) => (r() < 0.3 ? [n, `${FRAGMENTS[Math.floor(r() * FRAGMENTS.length)]}-${n}`] : [n]));
      const names = [...new Set(paired)].filter((n) => n.length <= 63 && hostSchema.shape.name.safeParse(n).success);
      const seen = new Map<string, string>();
      for (const p of SHARED) seen.set(`pki-role ${pkiRoleName(p)}`, `shared ${p}`);
      for (const h of names) {
        for (const o of hostObjectNames("c", h, PER_HOST)) {
          const key = `${o.kind} ${o.name}`;
          const owner = `${h}/${o.name}`;
          expect(seen.get(key), `seed ${SEED} round ${round}: ${key} of ${owner}`).toBeUndefined();
          seen.set(key, owner);
        }
      }
      expect(objectNameClashes("c", names.map((name) => ({ name, profiles: PER_HOST })), SHARED)).toEqual([]);
    }
  });

  it("a role name splits back into exactly its (profile, host)", () => {
    const r = seededRandom(SEED + 1);
    for (let i = 0; i < 2000; i++) {
      const host = hostName(r);
      const profile = PER_HOST[Math.floor(r() * PER_HOST.length)]!;
      expect(parsePkiRoleName(pkiRoleName(profile, host))).toEqual({ profile, host });
    }
    for (const p of SHARED) expect(parsePkiRoleName(pkiRoleName(p))).toEqual({ profile: p });
  });

  it("the old scheme's collision cannot be written: kubelet of 'serving-w1' is not kubelet-serving of 'w1'", () => {
    expect(pkiRoleName("kubelet", "serving-w1")).not.toBe(pkiRoleName("kubelet-serving", "w1"));
    // The checker itself finds a clash when one exists (negative control: the same host twice).
    const clashes = objectNameClashes("c", [{ name: "w1", profiles: PER_HOST }, { name: "w1", profiles: PER_HOST }], SHARED);
    expect(clashes.map((c) => c.name)).toContain(pkiRoleName("kubelet", "w1"));
  });

  it("the inventory refuses a host name holding the separator, naming the field", () => {
    const doc = {
      name: "c",
      hostDomain: "k.test",
      apiVip: "10.0.0.10",
      serviceCidr: "10.32.0.0/24",
      podCidr: "10.200.0.0/16",
      hosts: [
        { name: "e1", role: "etcd", address: "10.0.0.11" },
        { name: "c1", role: "controlplane", address: "10.0.0.21" },
        { name: `serving${HOST_SEPARATOR}w1`, role: "worker", address: "10.0.0.31" },
      ],
    };
    expect(() => parseInventory(doc, "inv.yaml")).toThrow(/hosts\[2\]\.name: must be a lowercase DNS label .*no "\."/);
  });
});
