import { createHash, createHmac } from "node:crypto";

/**
 * OpenSSH known_hosts, read the way ssh(1) reads it (sshd(8) "SSH_KNOWN_HOSTS
 * FILE FORMAT"): `[marker] patterns keytype base64-key [comment]`, patterns
 * comma-separated with `*`/`?` wildcards and `!` negation, `[host]:port` for
 * a port other than 22, hashed names `|1|salt|hmac-sha1(salt, name)`, and the
 * `@revoked` marker. `@cert-authority` lines are kept but never match a plain
 * host key (hak does not use host certificates). Pure: the file's text in,
 * a verdict out.
 */

export interface KnownHostEntry {
  /** 1-based line in the file, for messages and fixes. */
  line: number;
  marker: "revoked" | "cert-authority" | undefined;
  patterns: string;
  keyType: string;
  /** Base64 of the key blob, as in the file. */
  key: string;
}

export interface KnownHostsProblem {
  line: number;
  message: string;
}

export interface ParsedKnownHosts {
  entries: KnownHostEntry[];
  /** Lines that are not entries; ssh(1) skips them too, we report them once. */
  problems: KnownHostsProblem[];
}

export function parseKnownHosts(text: string): ParsedKnownHosts {
  const entries: KnownHostEntry[] = [];
  const problems: KnownHostsProblem[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry["marker"];
    if (fields[0]?.startsWith("@")) {
      const m = fields.shift()!;
      if (m === "@revoked") marker = "revoked";
      else if (m === "@cert-authority") marker = "cert-authority";
      else return problems.push({ line: i + 1, message: `unknown marker ${m}` });
    }
    const [patterns, keyType, key] = fields;
    if (!patterns || !keyType || !key) return problems.push({ line: i + 1, message: "expected: hostnames keytype base64-key" });
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key)) return problems.push({ line: i + 1, message: "the key is not base64" });
    entries.push({ line: i + 1, marker, patterns, keyType, key });
  });
  return { entries, problems };
}

/** The name ssh(1) looks up: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`, "i");
}

function hashedMatches(pattern: string, name: string): boolean {
  // |1|base64(salt)|base64(HMAC-SHA1 keyed with the salt over the name)
  const parts = pattern.split("|");
  if (parts.length !== 4 || parts[1] !== "1") return false;
  const salt = Buffer.from(parts[2]!, "base64");
  const want = parts[3]!;
  return createHmac("sha1", salt).update(name).digest("base64") === want;
}

/** Does a comma-separated pattern list match `name`? A matching negation wins. */
export function patternsMatch(patterns: string, name: string): boolean {
  if (patterns.startsWith("|")) return hashedMatches(patterns, name);
  let matched = false;
  for (const p of patterns.split(",")) {
    const negated = p.startsWith("!");
    const glob = negated ? p.slice(1) : p;
    if (!globToRegExp(glob).test(name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

/** The algorithm name at the start of an SSH public key blob (RFC 4253 §6.6). */
export function keyBlobType(blob: Buffer): string {
  if (blob.length < 4) return "?";
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString("latin1");
}

/** `SHA256:...` as `ssh-keygen -l` prints it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

export type HostKeyVerdict =
  | { kind: "known"; line: number }
  | { kind: "unknown" }
  | { kind: "revoked"; line: number }
  | { kind: "changed"; lines: number[]; names: string[]; knownTypes: string[] };

/**
 * Checks the key a server presented against every entry for any of `names`
 * (the first is the one ssh would use; more, e.g. a DNS name, may follow).
 * A key listed as @revoked is refused even if also listed as known; a key
 * that matches no entry while entries for the host exist is "changed".
 */
export function verifyHostKey(kh: ParsedKnownHosts, names: string[], blob: Buffer): HostKeyVerdict {
  const presented = blob.toString("base64");
  const revoked = kh.entries.find((e) => e.marker === "revoked" && e.key === presented);
  if (revoked) return { kind: "revoked", line: revoked.line };
  const forHost = kh.entries.filter((e) => e.marker === undefined && names.some((n) => patternsMatch(e.patterns, n)));
  const same = forHost.find((e) => e.key === presented);
  if (same) return { kind: "known", line: same.line };
  if (forHost.length === 0) return { kind: "unknown" };
  const staleNames = names.filter((n) => forHost.some((e) => patternsMatch(e.patterns, n)));
  return {
    kind: "changed",
    lines: forHost.map((e) => e.line),
    names: staleNames,
    knownTypes: [...new Set(forHost.map((e) => e.keyType))],
  };
}

/** Key types known for the host, in file order: offered first so the server picks one we can compare. */
export function knownKeyTypes(kh: ParsedKnownHosts, names: string[]): string[] {
  const types = kh.entries.filter((e) => e.marker === undefined && names.some((n) => patternsMatch(e.patterns, n))).map((e) => e.keyType);
  return [...new Set(types)];
}

/** One known_hosts line for a key accepted on first use. */
export function knownHostsLine(name: string, blob: Buffer, comment = "added by hak-deploy"): string {
  return `${name} ${keyBlobType(blob)} ${blob.toString("base64")} ${comment}\n`;
}
