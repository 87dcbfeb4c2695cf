import { renewalPoint } from "../common/lifetime.js";
import { profileFromOu } from "../common/names.js";
import type { CertFacts } from "../common/x509.js";

/**
 * The agent's decisions as pure functions of their inputs: no clock, no I/O,
 * no randomness inside (a `random()` in [0, 1) is passed in). The loop asks
 * them and acts; the tests check them with tables and random inputs.
 */

/** A source of uniform numbers in [0, 1); Math.random in production, a fixed sequence in tests. */
export type Random = () => number;

/**
 * When to renew a certificate (`notBefore`: when it was signed, certLife's
 * signedAt): 2/3 through its lifetime, moved by a random
 * amount of up to ±`jitter` of the lifetime, so a fleet issued in one burst
 * does not renew in one burst. With jitter ≤ 0.15 the latest renewal (0.817)
 * still comes before the late point (5/6 ≈ 0.833). Truncated to whole
 * seconds: certificates carry whole seconds, and a sub-second renewal point
 * only makes logs harder to compare.
 */
export function renewalTime(notBefore: Date, notAfter: Date, jitter: number, random: Random): Date {
  const nb = notBefore.getTime();
  const life = notAfter.getTime() - nb;
  if (life <= 0) return new Date(nb);
  const offset = (random() * 2 - 1) * jitter * life;
  // lifetime.ts's due point, moved by the jitter.
  const t = renewalPoint(notBefore, notAfter).getTime() + offset;
  return new Date(Math.floor(t / 1000) * 1000);
}

export interface BackoffSettings {
  /** Seconds. */
  min: number;
  /** Seconds. */
  max: number;
}

/**
 * Delay before retry number `attempt` (0 = first retry) after a failure:
 * min·2^attempt capped at max, then a random point in its upper half
 * ("equal jitter"), so many agents that lost Vault together do not return in
 * step, and the wait never drops below half the nominal one. Milliseconds.
 */
export function backoffDelay(attempt: number, s: BackoffSettings, random: Random): number {
  const nominal = Math.min(s.max, s.min * 2 ** Math.min(attempt, 30));
  return Math.round((nominal / 2 + (nominal / 2) * random()) * 1000);
}

/**
 * While an output waits out its backoff because Vault did not answer, the
 * agent asks Vault's unauthenticated `sys/health` (no token, no audit entry,
 * no storage read) once per probe interval, at a random point between half
 * and one and a half of it, so a fleet that lost Vault together does not
 * probe in step. The rate is bounded per agent (one probe in flight, never
 * more often than interval/2) whatever the number of outputs. Milliseconds.
 */
export function probeDelay(intervalSeconds: number, random: Random): number {
  return Math.round(intervalSeconds * (0.5 + random()) * 1000);
}

/**
 * Once a probe finds Vault answering again, every output that was waiting on
 * Vault retries after a random delay in [0, spread): the agents of a fleet
 * whose probes all succeed within one probe interval then reach Vault spread
 * over interval + spread rather than in one burst. Milliseconds.
 */
export function recoveryDelay(spreadSeconds: number, random: Random): number {
  return Math.floor(spreadSeconds * random() * 1000);
}

/**
 * Why an output's last attempt failed, which says what ends its wait:
 * - unreachable: Vault did not answer, or answered that it cannot serve
 *   (sealed, no leader: 429/502/503/504). The health probe ends the wait.
 * - local: the file system refused (full, read-only, not permitted). The
 *   cheap write check ends the wait; no signature is asked meanwhile.
 * - refused: anything else (a 4xx, a CEL refusal, garbage, a bad owner).
 *   Only the backoff, or another request of this agent that Vault answers,
 *   ends the wait: probing would not change the answer.
 */
export type FailureKind = "unreachable" | "local" | "refused";

const UNAVAILABLE = new Set([429, 502, 503, 504]);
/**
 * A 500 is mostly final (OpenBao answers a CEL role's refusal with 500), but
 * a node that has just been unsealed or lost its leader answers 500 too, with
 * these words, for a few seconds: that is Vault not being there yet.
 */
const NOT_SERVING = /not active|active cluster node|sealed|no leader|leadership|standby/i;

/** Classifies from the error's facts (Vault errors in its cause chain, whether a file-system one is there). */
export function failureKind(facts: { local: boolean; vault: { status: number | undefined; errors: readonly string[] }[] }): FailureKind {
  if (facts.local) return "local";
  const unavailable = (v: { status: number | undefined; errors: readonly string[] }) =>
    v.status === undefined || UNAVAILABLE.has(v.status) || (v.status === 500 && v.errors.some((e) => NOT_SERVING.test(e)));
  return facts.vault.some(unavailable) ? "unreachable" : "refused";
}

/**
 * A certificate Vault signed that could not be written: kept in memory and
 * written on the next try instead of asking for another signature, while it
 * is still worth having, i.e. until its own renewal point (after that a
 * fresh one would be due at once anyway).
 */
export function keepUnwritten(now: Date, notBefore: Date, notAfter: Date): boolean {
  return now.getTime() < renewalPoint(notBefore, notAfter).getTime();
}

/** What the agent wants an output's certificate to be. */
export interface WantedCert {
  profile: string;
  commonName: string;
  dns: string[];
  ip: string[];
  keyType: "ec" | "rsa";
}

/** What is on disk, already parsed (null fields: missing or unreadable). */
export interface CertOnDisk {
  facts: CertFacts | null;
  keyMatches: boolean;
  /** The certificate verifies against the CA file on disk (true when no CA file is configured). */
  signedByCa: boolean;
}

export type ReuseVerdict = { reuse: true } | { reuse: false; reason: string };

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const x = new Set(a.map((s) => s.toLowerCase()));
  const y = new Set(b.map((s) => s.toLowerCase()));
  return x.size === y.size && [...x].every((v) => y.has(v));
}

const KEY_ALGORITHM: Record<WantedCert["keyType"], string> = { ec: "ECDSA", rsa: "RSASSA-PKCS1-v1_5" };

/**
 * May the certificate on disk stay? Only when it is complete (key matches),
 * says what is wanted (CN, SANs, profile OU, key type), verifies against the
 * CA on disk, and is not yet due for renewal. The reason says what differs.
 */
export function reuseVerdict(disk: CertOnDisk, want: WantedCert, now: Date, renewAt: Date | undefined): ReuseVerdict {
  const f = disk.facts;
  if (!f) return { reuse: false, reason: "no certificate on disk" };
  if (!disk.keyMatches) return { reuse: false, reason: "the key on disk does not belong to the certificate" };
  if (!disk.signedByCa) return { reuse: false, reason: "the certificate is not signed by the CA on disk" };
  if (f.commonName !== want.commonName) return { reuse: false, reason: `common name is ${f.commonName}, wanted ${want.commonName}` };
  if (!sameSet(f.dns, want.dns)) return { reuse: false, reason: `DNS SANs are [${f.dns.join(", ")}], wanted [${want.dns.join(", ")}]` };
  if (!sameSet(f.ip, want.ip)) return { reuse: false, reason: `IP SANs are [${f.ip.join(", ")}], wanted [${want.ip.join(", ")}]` };
  const profile = profileFromOu(f.organizationalUnit);
  if (profile !== want.profile) return { reuse: false, reason: `profile is ${profile ?? "(none)"}, wanted ${want.profile}` };
  if (f.publicKeyAlgorithm !== KEY_ALGORITHM[want.keyType]) return { reuse: false, reason: `key is ${f.publicKeyAlgorithm}, wanted ${want.keyType}` };
  if (now.getTime() >= f.notAfter.getTime()) return { reuse: false, reason: "expired" };
  if (renewAt && now.getTime() >= renewAt.getTime()) return { reuse: false, reason: "due for renewal" };
  return { reuse: true };
}

/**
 * Debouncing of actions: outputs that change close together reload their
 * units once. Each change adds its actions (deduplicated by key) and pushes
 * the flush time to `quietMs` after the last change, but never beyond
 * `maxDelayMs` after the first, so a stream of changes cannot starve a reload.
 */
export interface PendingActions<A> {
  actions: Map<string, A>;
  firstAt: number;
  lastAt: number;
}

export function addPending<A>(p: PendingActions<A> | undefined, items: readonly { key: string; action: A }[], now: number): PendingActions<A> | undefined {
  if (items.length === 0) return p;
  const next: PendingActions<A> = p ? { actions: new Map(p.actions), firstAt: p.firstAt, lastAt: now } : { actions: new Map(), firstAt: now, lastAt: now };
  for (const { key, action } of items) if (!next.actions.has(key)) next.actions.set(key, action);
  return next;
}

/** Milliseconds since epoch when the pending actions are due. */
export function flushAt(p: PendingActions<unknown>, quietMs: number, maxDelayMs: number): number {
  return Math.min(p.lastAt + quietMs, p.firstAt + maxDelayMs);
}
