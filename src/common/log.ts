import { Writable } from "node:stream";
import { destination, pino, type DestinationStream, type Logger } from "pino";

/**
 * hak's logs: pino, one time format (ISO 8601, UTC) everywhere. JSON lines
 * when stderr is a file, a pipe or journald (one event per line, for
 * machines); one readable line per event when a person watches a terminal
 * (what pino-pretty does, without its dependency tree). HAK_LOG_FORMAT=json
 * or =pretty overrides the guess.
 */

const LEVELS: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };
const COLOURS: Record<number, string> = { 10: "\x1b[90m", 20: "\x1b[90m", 30: "\x1b[32m", 40: "\x1b[33m", 50: "\x1b[31m", 60: "\x1b[41m" };
const SKIP = new Set(["level", "time", "msg", "pid", "hostname", "name", "svc", "v"]);

function value(v: unknown): string {
  if (typeof v === "string") return /[\s"=]/.test(v) || v === "" ? JSON.stringify(v) : v;
  return JSON.stringify(v);
}

/** One pino JSON line as a person reads it: "2026-12-01T09:01:36.123Z INFO  hak-agent: certificate written output=etcd-server". */
export function formatLogLine(line: string, colour = false): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const level = typeof o.level === "number" ? o.level : 30;
  const name = (o.name ?? o.svc) as string | undefined;
  const lvl = (LEVELS[level] ?? String(level)).padEnd(5);
  const fields = Object.entries(o)
    .filter(([k]) => !SKIP.has(k))
    .map(([k, v]) => `${k}=${value(v)}`)
    .join(" ");
  const head = `${String(o.time ?? "")} ${colour ? `${COLOURS[level] ?? ""}${lvl}\x1b[0m` : lvl} ${name ? `${name}: ` : ""}${String(o.msg ?? "")}`;
  return fields ? `${head}  ${fields}` : head;
}

/** A stream that turns pino's JSON lines into readable ones on `out`. */
export function prettyStream(out: NodeJS.WritableStream, colour: boolean): Writable {
  let buf = "";
  return new Writable({
    write(chunk: Buffer | string, _enc, done) {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim() !== "") out.write(`${formatLogLine(line, colour)}\n`);
      }
      done();
    },
  });
}

export interface LoggerOptions {
  level?: string;
  /** Fields on every line (pino's `base`), e.g. { svc: "hak-agent" }. */
  base?: Record<string, unknown>;
  name?: string;
  /** Default: HAK_LOG_FORMAT, else pretty when stderr is a terminal. */
  format?: "json" | "pretty";
  /** Default: stderr. */
  out?: NodeJS.WritableStream & { isTTY?: boolean };
}

export function createLogger(o: LoggerOptions = {}): Logger {
  const out = o.out ?? process.stderr;
  const env = process.env.HAK_LOG_FORMAT;
  const format = o.format ?? (env === "json" || env === "pretty" ? env : out.isTTY ? "pretty" : "json");
  const dest: DestinationStream = format === "pretty" ? prettyStream(out, !!out.isTTY && !process.env.NO_COLOR) : o.out ? (out as DestinationStream) : destination(2);
  return pino({ level: o.level ?? "info", base: o.base, name: o.name, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}
