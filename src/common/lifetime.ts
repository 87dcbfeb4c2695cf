/**
 * Where a certificate stands in its life. Pure: no clock inside, `now` is
 * passed in. One definition for the agent, `hak-pki status` and `serve`:
 * renewal is due at 2/3 of the lifetime, a certificate is "late" in its last
 * sixth without having been renewed, and "expired" after notAfter.
 */

export const RENEW_FRACTION = 2 / 3;
export const LATE_FRACTION = 5 / 6;

export type LifeState = "ok" | "soon" | "late" | "expired";

/**
 * How far hak's roles backdate notBefore, against clock skew: kubeadm's 5
 * minutes, but never more than a tenth of the lifetime — a 2-minute
 * certificate backdated 5 minutes would be past its renewal point the moment
 * it is signed.
 */
export function backdateSeconds(leafTtlSeconds: number): number {
  return Math.min(300, Math.floor(leafTtlSeconds / 10));
}

/**
 * What is known about when a certificate was signed, besides its validity:
 * the role's backdate (serve, status, check: from the inventory's leafTtl),
 * or when its holder obtained it (the agent's own record).
 */
export interface SignedHint {
  /** Seconds the signing role backdated notBefore (backdateSeconds(leafTtl)). */
  backdate?: number;
  /** When the holder received it; trusted only inside the validity (a clock that jumped is not). */
  obtainedAt?: Date;
}

/**
 * When Vault signed a certificate. Life fractions are measured from here,
 * so a backdated certificate is not due early: the holder's record if it has
 * one, else notBefore plus the role's backdate, else notBefore. Falls back
 * to notBefore when the backdate would pass notAfter.
 */
export function signedAt(notBefore: Date, notAfter: Date, hint: number | SignedHint = {}): Date {
  const h = typeof hint === "number" ? { backdate: hint } : hint;
  const got = h.obtainedAt?.getTime();
  if (got !== undefined && got > notBefore.getTime() && got < notAfter.getTime()) return h.obtainedAt!;
  const t = notBefore.getTime() + (h.backdate ?? 0) * 1000;
  return t < notAfter.getTime() ? new Date(t) : notBefore;
}

/** A certificate's life, every point of it from one place: signed, due for renewal (2/3), late (5/6), expired. */
export interface CertLife {
  signedAt: Date;
  /** The nominal renewal point, before any jitter. */
  dueAt: Date;
  lateAt: Date;
  expiresAt: Date;
}

export function certLife(notBefore: Date, notAfter: Date, hint: number | SignedHint = {}): CertLife {
  const start = signedAt(notBefore, notAfter, hint);
  return { signedAt: start, dueAt: renewalPoint(start, notAfter), lateAt: latePoint(start, notAfter), expiresAt: notAfter };
}

/** ok before dueAt, soon until lateAt, late until expiresAt, then expired. */
export function stateOf(now: Date, life: CertLife): LifeState {
  return lifeState(now, life.signedAt, life.expiresAt);
}

function at(notBefore: Date, notAfter: Date, fraction: number): Date {
  const nb = notBefore.getTime();
  return new Date(nb + (notAfter.getTime() - nb) * fraction);
}

/** The nominal renewal point (2/3 through the lifetime), before any jitter. */
export function renewalPoint(notBefore: Date, notAfter: Date): Date {
  return at(notBefore, notAfter, RENEW_FRACTION);
}

/** From here on a certificate that was not renewed is late (its last sixth). */
export function latePoint(notBefore: Date, notAfter: Date): Date {
  return at(notBefore, notAfter, LATE_FRACTION);
}

/** ok before the renewal point, soon until the late point, late until notAfter, then expired. */
export function lifeState(now: Date, notBefore: Date, notAfter: Date): LifeState {
  const t = now.getTime();
  if (t >= notAfter.getTime()) return "expired";
  if (t >= latePoint(notBefore, notAfter).getTime()) return "late";
  if (t >= renewalPoint(notBefore, notAfter).getTime()) return "soon";
  return "ok";
}
