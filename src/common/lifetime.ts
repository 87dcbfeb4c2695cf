/**
 * Where a certificate stands in its life. Pure: no clock inside, `now` is
 * passed in. One definition for the agent, `hak-pki status` and `serve`:
 * renewal is due at 2/3 of the lifetime, a certificate is "late" in its last
 * sixth without having been renewed, and "expired" after notAfter.
 */

export const RENEW_FRACTION = 2 / 3;
export const LATE_FRACTION = 5 / 6;

export type LifeState = "ok" | "soon" | "late" | "expired";

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
