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
 * When Vault signed a certificate: notBefore plus the role's backdate. Life
 * fractions are measured from here, so a backdated certificate is not due
 * early. Falls back to notBefore when the backdate would pass notAfter.
 */
export function signedAt(notBefore: Date, notAfter: Date, backdate: number): Date {
  const t = notBefore.getTime() + backdate * 1000;
  return t < notAfter.getTime() ? new Date(t) : notBefore;
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
