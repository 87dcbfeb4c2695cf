import { readFileSync } from "node:fs";
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

/** `hosts[3].address` from zod's path array. */
export function formatPath(prefix: string, path: readonly (string | number)[]): string {
  let out = prefix;
  for (const part of path) {
    out += typeof part === "number" ? `[${part}]` : out === "" ? part : `.${part}`;
  }
  return out;
}

export function formatZodIssue(prefix: string, issue: ZodIssue): string {
  return `${formatPath(prefix, issue.path)}: ${issue.message}`;
}

/** Validates `doc` with `schema`; on failure an InputError listing every problem with its field path. */
export function parseInput<S extends ZodTypeAny>(schema: S, doc: unknown, where: string): z.output<S> {
  const res = schema.safeParse(doc);
  if (!res.success) throw zodToInputError(where, "", res.error);
  return res.data as z.output<S>;
}

/** Every problem of a zod error, one per line, each naming its field path. */
export function zodToInputError(where: string, prefix: string, err: ZodError): InputError {
  const lines = err.issues.map((i) => formatZodIssue(prefix, i));
  const msg = lines.length === 1 ? lines[0]! : `${lines.length} problems:\n  ${lines.join("\n  ")}`;
  return new InputError(msg, { where });
}

export function errorMessage(err: unknown): string {
  if (err instanceof HakError) return err.describe();
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * Reads a file a person pointed at (inventory, config, CA, key); a failure
 * is bad input naming the file and what it was for.
 */
export function readInputFile(file: string, what: string, opts: { where?: string; fix?: string } = {}): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new InputError(`cannot read ${what}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { where: opts.where ?? file, fix: opts.fix });
  }
}
