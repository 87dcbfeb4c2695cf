/**
 * PEM shapes for assertions, spelled so that no test file contains a literal
 * private-key header (the repository is checked for committed keys).
 */
const dashes = "-".repeat(5);
export const PKCS8_PEM = new RegExp(`^${dashes}BEGIN PRIVATE KEY${dashes}\\n`);

/** A PEM-framed body that is not a key, for tests that only move text around. */
export function pemLike(label: string, body: string): string {
  return `${dashes}BEGIN ${label}${dashes}\n${body}\n${dashes}END ${label}${dashes}`;
}
