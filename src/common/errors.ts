import { readFileSync, statSync, type Stats } from "node:fs";
import type { z, ZodError, ZodIssue, ZodTypeAny } from "zod";

/**
 * An error meant for a person: what is wrong, where (a file, flag, field path
 * or URL), and, when we know it, how to fix it. CLIs print it once, at the
 * edge, without a stack trace.
 */
export class HakError extends Error {
  readonly where: string | undefined;
  readonly fix: string | undefined;
  /** 1 = the operation failed, 2 = bad usage or bad input. */
  readonly exitCode: 1 | 2;

  constructor(message: string, opts: { where?: string; fix?: string; exitCode?: 1 | 2; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "HakError";
    this.where = opts.where;
    this.fix = opts.fix;
    this.exitCode = opts.exitCode ?? 1;
  }

  /** One line (or a few) for a terminal or a log. */
  describe(): string {
    const head = this.where ? `${this.where}: ${this.message}` : this.message;
    return this.fix ? `${head}\n  fix: ${this.fix}` : head;
  }
}

/** Bad input from a person or a file: exit status 2. */
export class InputError extends HakError {
  constructor(message: string, opts: { where?: string; fix?: string; cause?: unknown } = {}) {
    super(message, { ...opts, exitCode: 2 });
    this.name = "InputError";
  }
}

/** `hosts[3].address` from zod's path array; "(top level)" for the document itself. */
export function formatPath(prefix: string, path: readonly (string | number)[]): string {
  let out = prefix;
  for (const part of path) {
    out += typeof part === "number" ? `[${part}]` : out === "" ? part : `.${part}`;
  }
  return out === "" ? "(top level)" : out;
}

const TYPE_WORD: Record<string, string> = { string: "a string", number: "a number", integer: "a whole number", boolean: "true or false", object: "a mapping", array: "a list", null: "null", undefined: "nothing" };

/**
 * One problem as a person reads it: zod's own phrases ("Unrecognized key(s)
 * in object", "Expected string, received number", "Required") in hak's words,
 * each at its field path; custom messages (the schemas' own) pass through.
 */
export function formatZodIssue(prefix: string, issue: ZodIssue): string {
  if (issue.code === "unrecognized_keys") {
    const where = issue.path.length === 0 && prefix === "" ? "" : ` in ${formatPath(prefix, issue.path)}`;
    return issue.keys.map((k) => `${formatPath(prefix, [...issue.path, k])}: unknown field ${JSON.stringify(k)}${where} (a typo? remove it or fix its name)`).join("\n  ");
  }
  const at = formatPath(prefix, issue.path);
  if (issue.code === "invalid_type") {
    if (issue.received === "undefined") return `${at}: missing (required)`;
    if (issue.received === "null") return `${at}: is null; give a value (${TYPE_WORD[issue.expected] ?? issue.expected}) or leave the field out`;
    return `${at}: expected ${TYPE_WORD[issue.expected] ?? issue.expected}, got ${TYPE_WORD[issue.received] ?? issue.received}`;
  }
  if (issue.code === "invalid_string" && issue.validation === "url") return `${at}: not a URL (e.g. https://vault1.example.org:8200)`;
  return `${at}: ${issue.message}`;
}

/** The field path of the first string holding a NUL byte, which no file name, unit or name may contain. */
export function findNul(doc: unknown, path: (string | number)[] = []): (string | number)[] | undefined {
  if (typeof doc === "string") return doc.includes("\u0000") ? path : undefined;
  if (Array.isArray(doc)) {
    for (const [i, v] of doc.entries()) {
      const p = findNul(v, [...path, i]);
      if (p) return p;
    }
  } else if (doc && typeof doc === "object") {
    for (const [k, v] of Object.entries(doc)) {
      const p = k.includes("\u0000") ? [...path, k] : findNul(v, [...path, k]);
      if (p) return p;
    }
  }
  return undefined;
}

/** Validates `doc` with `schema`; on failure an InputError listing every problem with its field path. */
export function parseInput<S extends ZodTypeAny>(schema: S, doc: unknown, where: string): z.output<S> {
  const nul = findNul(doc);
  if (nul) throw new InputError(`${formatPath("", nul)}: contains a NUL byte`, { where });
  const res = schema.safeParse(doc);
  if (!res.success) throw zodToInputError(where, "", res.error);
  return res.data as z.output<S>;
}

/** Every problem of a zod error, one per line, each naming its field path. */
export function zodToInputError(where: string, prefix: string, err: ZodError): InputError {
  const lines = err.issues.flatMap((i) => formatZodIssue(prefix, i).split("\n  "));
  const msg = lines.length === 1 ? lines[0]! : `${lines.length} problems:\n  ${lines.join("\n  ")}`;
  return new InputError(msg, { where });
}

export function errorMessage(err: unknown): string {
  if (err instanceof HakError) return err.describe();
  if (err instanceof Error) return err.message;
  return String(err);
}

/** What an fs error code means, for a person. */
export function fsReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
    case "EPERM":
      return "not readable (permission denied)";
    case "EISDIR":
      return "a directory, not a file";
    case "ENOTDIR":
      return "a part of the path is not a directory";
    default:
      return code ?? String(err);
  }
}

/**
 * Reads a file a person pointed at (inventory, config, CA, key); a failure
 * is bad input naming the file and what it was for; `where` names who gave
 * the name (`--inventory`, `HAK_INVENTORY`, `VAULT_CACERT`), default the file.
 */
export function readInputFile(file: string, what: string, opts: { where?: string; fix?: string } = {}): string {
  try {
    // A FIFO or a device would block the read (or never end): refuse them before opening.
    const st = statSync(file);
    if (!st.isFile()) throw new InputError(`cannot read ${what}: ${fileKind(st)}, not a regular file`, { where: opts.where ?? file, fix: opts.fix });
    return readFileSync(file, "utf8");
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot read ${what} ${JSON.stringify(file)}: ${fsReason(err)}`, { where: opts.where ?? file, fix: opts.fix, cause: err });
  }
}

/** What a non-regular file is, for messages. */
export function fileKind(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  if (st.isSocket()) return "a socket";
  return st.isFile() ? "a file" : "not a file";
}
