import { isIP } from "node:net";

/** Pure IPv4/IPv6 helpers; no I/O. */

export function isIpAddress(s: string): boolean {
  return isIP(s) !== 0;
}

function v4ToBig(s: string): bigint {
  return s.split(".").reduce((acc, part) => (acc << 8n) + BigInt(Number(part)), 0n);
}

function bigToV4(n: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((n >> shift) & 255n)).join(".");
}

function v6ToBig(s: string): bigint {
  const [head, tail] = s.includes("::") ? s.split("::") : [s, undefined];
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const fill = tail === undefined ? [] : Array(8 - h.length - t.length).fill("0");
  return [...h, ...fill, ...t].reduce((acc, g) => (acc << 16n) + BigInt(parseInt(g, 16)), 0n);
}

function bigToV6(n: bigint): string {
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((n >> BigInt(i * 16)) & 0xffffn).toString(16));
  // Compress the longest run of zero groups, as RFC 5952 asks.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== "0") { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}

export interface Cidr {
  family: 4 | 6;
  network: bigint;
  prefix: number;
}

/** Parses "10.32.0.0/24"; undefined when malformed or when host bits are set. */
export function parseCidr(s: string): Cidr | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s.trim());
  if (!m) return undefined;
  const family = isIP(m[1]!);
  if (family === 0) return undefined;
  const bits = family === 4 ? 32 : 128;
  const prefix = Number(m[2]);
  if (prefix > bits) return undefined;
  const addr = family === 4 ? v4ToBig(m[1]!) : v6ToBig(m[1]!);
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  if ((addr & hostMask) !== 0n) return undefined;
  return { family: family as 4 | 6, network: addr, prefix };
}

/** The n-th address of a CIDR (n = 1: the first usable, which kubeadm gives the `kubernetes` service). */
export function nthAddress(cidr: Cidr, n: number): string {
  const addr = cidr.network + BigInt(n);
  return cidr.family === 4 ? bigToV4(addr) : bigToV6(addr);
}

export function cidrContains(cidr: Cidr, ip: string): boolean {
  const family = isIP(ip);
  if (family !== cidr.family) return false;
  const bits = family === 4 ? 32 : 128;
  const addr = family === 4 ? v4ToBig(ip) : v6ToBig(ip);
  return addr >> BigInt(bits - cidr.prefix) === cidr.network >> BigInt(bits - cidr.prefix);
}

/** The single-address CIDR Vault binds tokens and secret IDs to. */
export function hostCidr(ip: string): string {
  return isIP(ip) === 6 ? `${ip}/128` : `${ip}/32`;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const bits = a.family === 4 ? 32 : 128;
  const p = Math.min(a.prefix, b.prefix);
  return a.network >> BigInt(bits - p) === b.network >> BigInt(bits - p);
}

/**
 * Why an address cannot name one host in a certificate or a binding:
 * unspecified (0.0.0.0, ::, anything in 0.0.0.0/8), multicast (224.0.0.0/4,
 * ff00::/8) or the limited broadcast. Undefined for a usable address
 * (loopback is usable: the local cluster runs on it).
 */
export function unusableAddress(ip: string): string | undefined {
  const family = isIP(ip);
  if (family === 4) {
    const n = v4ToBig(ip);
    if (n >> 24n === 0n) return "is an unspecified (0.0.0.0/8) address";
    if (n >> 28n === 0xen) return "is a multicast address";
    if (n === 0xffffffffn) return "is the broadcast address";
    return undefined;
  }
  if (family === 6) {
    const n = v6ToBig(ip);
    if (n === 0n) return "is the unspecified address ::";
    if (n >> 120n === 0xffn) return "is a multicast address";
    // IPv4-mapped (::ffff:a.b.c.d): judge the IPv4 address inside.
    if (n >> 32n === 0xffffn) return unusableAddress(bigToV4(n & 0xffffffffn));
    return undefined;
  }
  return undefined;
}
