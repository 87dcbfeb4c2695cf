import { request } from "node:https";

/**
 * The client of the HA rows: a GET through the API's virtual IP every
 * `intervalMs` (100 ms, as issue 12 asks), each on a new TCP connection (so
 * every request goes through VRRP, ARP and haproxy's backend choice afresh,
 * as a new kubectl call does), each given `timeoutMs` before it counts as
 * failed. Requests overlap when the path hangs: a tick never waits for the
 * previous one.
 */

export interface Sample {
  /** performance.now() when the request was sent and when it ended. */
  start: number;
  end: number;
  ok: boolean;
  /** Which backend answered (the stand-in's name), when one did. */
  server?: string;
  error?: string;
}

export interface ProbeOptions {
  url: string;
  ca: string;
  /** A client certificate and key (PEM): the cluster rows call the real API as the operator does. */
  cert?: string;
  key?: string;
  intervalMs?: number;
  timeoutMs?: number;
}

function once(url: string, tls: { ca: string; cert?: string; key?: string }, timeoutMs: number): Promise<Sample> {
  const start = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const done = (s: Omit<Sample, "start" | "end">) => {
      if (settled) return;
      settled = true;
      resolve({ start, end: performance.now(), ...s });
    };
    const req = request(url, { ...tls, agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => {
        if (res.statusCode !== 200) return done({ ok: false, error: `HTTP ${res.statusCode}` });
        try {
          const v = JSON.parse(body) as { server?: unknown };
          done({ ok: true, ...(typeof v.server === "string" ? { server: v.server } : {}) });
        } catch {
          done({ ok: false, error: "not JSON" });
        }
      });
      res.on("error", (e) => done({ ok: false, error: e.message }));
    });
    req.on("timeout", () => {
      req.destroy(new Error(`no answer within ${timeoutMs} ms`));
    });
    req.on("error", (e) => done({ ok: false, error: e.message }));
    req.end();
  });
}

export class Prober {
  private readonly samples: Sample[] = [];
  private readonly pending = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: ProbeOptions) {}

  start(): void {
    const tick = () => {
      const p = once(this.o.url, { ca: this.o.ca, cert: this.o.cert, key: this.o.key }, this.o.timeoutMs ?? 2000).then((s) => {
        this.samples.push(s);
        this.pending.delete(p);
      });
      this.pending.add(p);
    };
    tick();
    this.timer = setInterval(tick, this.o.intervalMs ?? 100);
  }

  now(): number {
    return performance.now();
  }

  /** Samples so far (those still in flight are not in it). */
  snapshot(): Sample[] {
    return [...this.samples].sort((a, b) => a.start - b.start);
  }

  async stop(): Promise<Sample[]> {
    if (this.timer) clearInterval(this.timer);
    await Promise.all([...this.pending]);
    return this.snapshot();
  }
}

export interface PhaseSummary {
  /** Requests sent in the phase (start in [from, to)). */
  total: number;
  failed: number;
  /** failed / total, 0 when nothing was sent. */
  share: number;
  /**
   * Time from the phase's start (the injection or the restore) until the
   * client is served again: the end of the first successful request sent
   * after the phase's last failed one. 0 when nothing failed; undefined when
   * no request succeeded after the last failure (not recovered).
   */
  recoveryMs: number | undefined;
  /**
   * How long the client was not served: from the first failed request's
   * send to the same end as recoveryMs (0 when nothing failed). For a
   * restore, where trouble (a preemption) comes later than the phase start,
   * this is the figure that counts.
   */
  outageMs: number | undefined;
  /** Answers per backend in the phase. */
  servers: Record<string, number>;
  /** The distinct errors seen, with counts. */
  errors: Record<string, number>;
}

/** Pure: what the client saw between `from` and `to` (ms, performance.now() clock). */
export function summarize(samples: readonly Sample[], from: number, to = Number.POSITIVE_INFINITY): PhaseSummary {
  const inPhase = samples.filter((s) => s.start >= from && s.start < to);
  const failed = inPhase.filter((s) => !s.ok);
  const servers: Record<string, number> = {};
  const errors: Record<string, number> = {};
  for (const s of inPhase) {
    if (s.ok && s.server) servers[s.server] = (servers[s.server] ?? 0) + 1;
    if (!s.ok) {
      // Connection-specific numbers (ports, addresses) would split one cause into many.
      const e = (s.error ?? "failed").replace(/\d+\.\d+\.\d+\.\d+:\d+/g, "ADDR");
      errors[e] = (errors[e] ?? 0) + 1;
    }
  }
  let recoveryMs: number | undefined = 0;
  let outageMs: number | undefined = 0;
  if (failed.length > 0) {
    const lastFail = Math.max(...failed.map((s) => s.start));
    const firstFail = Math.min(...failed.map((s) => s.start));
    const after = inPhase.filter((s) => s.ok && s.start > lastFail).sort((a, b) => a.end - b.end)[0];
    recoveryMs = after ? after.end - from : undefined;
    outageMs = after ? after.end - firstFail : undefined;
  }
  return { total: inPhase.length, failed: failed.length, share: inPhase.length ? failed.length / inPhase.length : 0, recoveryMs, outageMs, servers, errors };
}
