import { readFileSync } from "node:fs";
import { HakError } from "../common/errors.js";

/**
 * User and group names to ids, from /etc/passwd and /etc/group (Node has no
 * getpwnam; NixOS writes both files for declared users). Numeric ids pass
 * through. Resolved before anything is written, so an unknown owner never
 * leaves a half-made output.
 */

function lookup(file: string, name: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f[0] === name && f[2] !== undefined && /^\d+$/.test(f[2])) return Number(f[2]);
  }
  return undefined;
}

function resolve(kind: "user" | "group", file: string, p: string | number, where: string): number {
  if (typeof p === "number") return p;
  if (/^\d+$/.test(p)) return Number(p);
  const id = lookup(file, p);
  if (id === undefined) throw new HakError(`no ${kind} named "${p}" in ${file}`, { where, fix: `create the ${kind} or give a numeric id` });
  return id;
}

export function resolveUid(p: string | number, where: string, passwd = "/etc/passwd"): number {
  return resolve("user", passwd, p, where);
}

export function resolveGid(p: string | number, where: string, group = "/etc/group"): number {
  return resolve("group", group, p, where);
}
