/** POSIX shell quoting, for the commands hak-deploy runs on hosts and the fixes it prints. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `sh -c SCRIPT`, under `sudo -n` when the SSH user is not root (sudo must not prompt). */
export function remoteShell(script: string, user: string): string {
  const sh = `sh -c ${shellQuote(script)}`;
  return user === "root" ? sh : `sudo -n ${sh}`;
}
