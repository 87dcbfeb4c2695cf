import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fingerprint, keyBlobType, knownHostsName, parseKnownHosts, patternsMatch, verifyHostKey } from "../../src/deploy/known-hosts.js";
import { makeKey } from "./helpers/sshd.js";

const dir = mkdtempSync(join(tmpdir(), "hak-kh-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function blobOf(pubLine: string): Buffer {
  return Buffer.from(pubLine.split(/\s+/)[1]!, "base64");
}
const keyA = makeKey(dir, "a").publicKey;
const keyB = makeKey(dir, "b").publicKey;
const typeAndKey = (pub: string) => pub.split(/\s+/).slice(0, 2).join(" ");

describe("known_hosts parsing and matching", () => {
  it("names a non-standard port [host]:port, as ssh does", () => {
    expect(knownHostsName("10.0.0.1", 22)).toBe("10.0.0.1");
    expect(knownHostsName("10.0.0.1", 2222)).toBe("[10.0.0.1]:2222");
  });

  it.each([
    ["10.0.0.1", "10.0.0.1", true],
    ["10.0.0.1", "10.0.0.10", false],
    ["10.0.0.*", "10.0.0.10", true],
    ["10.0.0.?", "10.0.0.10", false],
    ["*.k8s.local,!bad.k8s.local", "bad.k8s.local", false],
    ["*.k8s.local,!bad.k8s.local", "etcd1.k8s.local", true],
    ["[10.0.0.1]:2222", "[10.0.0.1]:2222", true],
    ["[10.0.0.1]:2222", "10.0.0.1", false],
    ["Etcd1", "etcd1", true],
  ])("pattern %s against %s: %s", (pattern, name, want) => {
    expect(patternsMatch(pattern, name)).toBe(want);
  });

  it("matches entries hashed by OpenSSH (ssh-keygen -H), with and without a port", () => {
    const file = join(dir, "hashed");
    writeFileSync(file, `10.1.2.3 ${typeAndKey(keyA)}\n[10.1.2.4]:2222 ${typeAndKey(keyB)}\n`);
    execFileSync("ssh-keygen", ["-q", "-H", "-f", file], { stdio: "ignore" });
    const text = readFileSync(file, "utf8");
    expect(text).not.toContain("10.1.2.3");
    const kh = parseKnownHosts(text);
    expect(kh.entries).toHaveLength(2);
    expect(verifyHostKey(kh, ["10.1.2.3"], blobOf(keyA))).toEqual({ kind: "known", line: 1 });
    expect(verifyHostKey(kh, [knownHostsName("10.1.2.4", 2222)], blobOf(keyB))).toEqual({ kind: "known", line: 2 });
    expect(verifyHostKey(kh, ["10.1.2.4"], blobOf(keyB)).kind).toBe("unknown");
    expect(verifyHostKey(kh, ["10.1.2.3"], blobOf(keyB))).toMatchObject({ kind: "changed", lines: [1], names: ["10.1.2.3"] });
  });

  it("refuses a @revoked key even when another line lists it as known", () => {
    const kh = parseKnownHosts(`10.0.0.5 ${typeAndKey(keyA)}\n@revoked * ${typeAndKey(keyA)}\n`);
    expect(verifyHostKey(kh, ["10.0.0.5"], blobOf(keyA))).toEqual({ kind: "revoked", line: 2 });
  });

  it("never treats a @cert-authority line as the host's key", () => {
    const kh = parseKnownHosts(`@cert-authority 10.0.0.6 ${typeAndKey(keyA)}\n`);
    expect(verifyHostKey(kh, ["10.0.0.6"], blobOf(keyA)).kind).toBe("unknown");
  });

  it("reports lines it cannot read and keeps the others", () => {
    const kh = parseKnownHosts(`# comment\n\nonlyonefield\n@weird x ssh-ed25519 AAAA\n10.0.0.7 ${typeAndKey(keyA)} comment words\n10.0.0.8 ssh-ed25519 not*base64\n`);
    expect(kh.entries.map((e) => e.line)).toEqual([5]);
    expect(kh.problems.map((p) => p.line)).toEqual([3, 4, 6]);
  });

  it("reads the key type from the blob and prints fingerprints as ssh-keygen -l does", () => {
    const blob = blobOf(keyA);
    expect(keyBlobType(blob)).toBe("ssh-ed25519");
    const fromKeygen = execFileSync("ssh-keygen", ["-l", "-f", join(dir, "a.pub")], { encoding: "utf8" }).split(/\s+/)[1];
    expect(fingerprint(blob)).toBe(fromKeygen);
  });
});
