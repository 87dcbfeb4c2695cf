import { Agent as HttpAgent, request as httpRequestRaw, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http";
import { Agent as HttpsAgent, request as httpsRequestRaw } from "node:https";

/**
 * The few HTTP calls VaultClient makes, on Node's own http/https with a
 * keep-alive agent. Why not undici: loading it costs a node process about
 * 20 MiB of resident memory and 70 ms of CPU (measured: bench/agent-vs-bao-agent.ts,
 * docs/performance.md), a third of the agent's footprint, for one call per
 * request that node:https does as well: a CA, a client certificate and key,
 * a source address, and timeouts for connecting, the headers and the body.
 * The option names are undici's, so the client's settings read the same.
 */

export interface AgentOptions {
  connect?: { ca?: string; cert?: string; key?: string };
  localAddress?: string;
  /** Milliseconds from sending the request until the response headers. */
  headersTimeout?: number;
  /** Milliseconds of silence allowed while the body arrives. */
  bodyTimeout?: number;
  connectTimeout?: number;
}

export interface RequestOptions {
  method: string;
  headers: OutgoingHttpHeaders;
  body?: string;
  query?: Record<string, string>;
  dispatcher: Agent;
}

export interface Response {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: { text(): Promise<string> };
}

/** A network error with the code callers report (like undici's UND_ERR_* or Node's ECONNREFUSED). */
export class HttpTimeoutError extends Error {
  constructor(
    readonly code: "UND_ERR_CONNECT_TIMEOUT" | "UND_ERR_HEADERS_TIMEOUT" | "UND_ERR_BODY_TIMEOUT",
    message: string,
  ) {
    super(message);
    this.name = "HttpTimeoutError";
  }
}

export class Agent {
  private readonly https: HttpsAgent;
  private readonly http: HttpAgent;
  private inflight = 0;
  private closing: (() => void) | undefined;
  private closed = false;

  constructor(readonly opts: AgentOptions = {}) {
    const common = { keepAlive: true, maxSockets: 64, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) };
    this.https = new HttpsAgent({ ...common, ca: opts.connect?.ca, cert: opts.connect?.cert, key: opts.connect?.key });
    this.http = new HttpAgent(common);
  }

  /** Waits for the requests in flight, then closes every socket. */
  close(): Promise<void> {
    this.closed = true;
    if (this.inflight === 0) return Promise.resolve(this.destroy());
    return new Promise((resolve) => {
      this.closing = () => resolve(this.destroy());
    });
  }

  private destroy(): void {
    this.https.destroy();
    this.http.destroy();
  }

  /** @internal */
  track<T>(p: Promise<T>): Promise<T> {
    this.inflight++;
    return p.finally(() => {
      if (--this.inflight === 0) this.closing?.();
    });
  }

  /** @internal */
  get isClosed(): boolean {
    return this.closed;
  }

  /** @internal */
  agentFor(protocol: string): HttpAgent | HttpsAgent {
    return protocol === "https:" ? this.https : this.http;
  }
}

export function request(url: string, ro: RequestOptions): Promise<Response> {
  const a = ro.dispatcher;
  if (a.isClosed) return Promise.reject(new Error("the client was closed"));
  const u = new URL(url);
  for (const [k, v] of Object.entries(ro.query ?? {})) u.searchParams.set(k, v);
  const headers: OutgoingHttpHeaders = { ...ro.headers };
  if (ro.body !== undefined) headers["Content-Length"] = Buffer.byteLength(ro.body);
  const send = u.protocol === "https:" ? httpsRequestRaw : httpRequestRaw;
  const { connectTimeout, headersTimeout = 300_000, bodyTimeout = 300_000 } = a.opts;
  return a.track(
    new Promise<Response>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      // Who hears of a timeout: the caller before the headers came, the body's reader after.
      let onTimeout: (err: Error) => void = reject;
      const arm = (ms: number, code: HttpTimeoutError["code"], what: string) => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          const err = new HttpTimeoutError(code, `${what} timed out after ${ms} ms`);
          onTimeout(err);
          req.destroy(err);
        }, ms);
      };
      const req = send(u, { method: ro.method, headers, agent: a.agentFor(u.protocol) }, (res) => {
        const chunks: Buffer[] = [];
        const text = new Promise<string>((ok, bad) => {
          onTimeout = bad;
          arm(bodyTimeout, "UND_ERR_BODY_TIMEOUT", "the response body");
          res.on("data", (c: Buffer) => {
            chunks.push(c);
            arm(bodyTimeout, "UND_ERR_BODY_TIMEOUT", "the response body");
          });
          res.on("end", () => {
            clearTimeout(timer);
            ok(Buffer.concat(chunks).toString("utf8"));
          });
          res.on("error", (err) => {
            clearTimeout(timer);
            bad(err);
          });
          res.on("aborted", () => {
            clearTimeout(timer);
            bad(Object.assign(new Error("the connection closed before the response body ended"), { code: "ECONNRESET" }));
          });
        });
        // The body is read at once (Vault's answers are small), so a caller that never reads it cannot hold the socket.
        text.catch(() => undefined);
        resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: { text: () => text } });
      });
      req.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.on("socket", (sock) => {
        if ((sock as { connecting?: boolean }).connecting && connectTimeout) {
          arm(connectTimeout, "UND_ERR_CONNECT_TIMEOUT", "connecting");
          sock.once(u.protocol === "https:" ? "secureConnect" : "connect", () => arm(headersTimeout, "UND_ERR_HEADERS_TIMEOUT", "waiting for the response headers"));
        } else {
          arm(headersTimeout, "UND_ERR_HEADERS_TIMEOUT", "waiting for the response headers");
        }
      });
      req.end(ro.body);
    }),
  );
}
