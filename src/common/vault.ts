import { Agent, request as httpRequest } from "./https-agent.js";
import { HakError, InputError, readInputFile } from "./errors.js";

/**
 * A small Vault/OpenBao HTTP client on node:https (https-agent.ts), using only the API both share.
 * Why not node-vault: hak needs a client certificate (TLS cert auth), a bound
 * source address (address-bound secret IDs), several server addresses for
 * HA, response wrapping and a per-request hook for metrics; one typed client
 * on the HTTP stack the project already has does all of that.
 */

export interface VaultTls {
  /** PEM of the CA that signed the server's certificate (VAULT_CACERT). */
  ca?: string;
  /** Client certificate and key (PEM), for TLS cert auth logins. */
  cert?: string;
  key?: string;
}

export interface VaultClientOptions {
  /** One or more server addresses; on a connection failure or a 5xx the next is tried. */
  addresses: string[];
  token?: string;
  tls?: VaultTls;
  /** Source address of every connection (Vault binds secret IDs and tokens to it). */
  localAddress?: string;
  /** Per-request timeout, milliseconds. */
  timeoutMs?: number;
  /** Called after every request, for metrics and logs. Never receives bodies. */
  onRequest?: (ev: VaultRequestEvent) => void;
}

export interface VaultRequestEvent {
  method: string;
  path: string;
  address: string;
  status: number | undefined;
  ok: boolean;
  durationMs: number;
}

export class VaultError extends HakError {
  readonly status: number | undefined;
  readonly errors: string[];
  readonly path: string;
  constructor(message: string, opts: { status?: number; errors?: string[]; path: string; where: string; fix?: string; cause?: unknown }) {
    super(message, { where: opts.where, fix: opts.fix, cause: opts.cause });
    this.name = "VaultError";
    this.status = opts.status;
    this.errors = opts.errors ?? [];
    this.path = opts.path;
  }
  get isPermissionDenied(): boolean {
    return this.status === 403;
  }
}

/** Vault's JSON envelope, loosely: callers validate `data` with zod where it matters. */
export interface VaultResponse<T = Record<string, unknown>> {
  data?: T;
  auth?: VaultAuth;
  wrap_info?: { token: string; ttl: number; creation_path: string; accessor?: string };
  warnings?: string[] | null;
  lease_duration?: number;
}

export interface VaultAuth {
  client_token: string;
  accessor: string;
  policies: string[];
  token_policies?: string[];
  lease_duration: number;
  renewable: boolean;
  entity_id?: string;
  metadata?: Record<string, string> | null;
}

type Method = "GET" | "POST" | "PUT" | "DELETE" | "LIST";

export interface RequestOptions {
  body?: unknown;
  /** Ask Vault to response-wrap the answer for this long ("60s"). */
  wrapTtl?: string;
  /** Use this token instead of the client's (or none, with null). */
  token?: string | null;
  /** Return undefined instead of throwing on 404. */
  allow404?: boolean;
}

// Not 500: OpenBao answers a CEL role's refusal with 500, and a refused signing request must not be sent to every node.
const RETRY_STATUS = new Set([429, 502, 503, 504]);

export class VaultClient {
  readonly addresses: string[];
  token: string | undefined;
  private readonly dispatcher: Agent;
  private readonly opts: VaultClientOptions;
  /** Index of the address that answered last; tried first next time. */
  private current = 0;

  constructor(opts: VaultClientOptions) {
    if (opts.addresses.length === 0) throw new InputError("no Vault address given", { fix: "set VAULT_ADDR or pass --vault-addr" });
    for (const a of opts.addresses) {
      try {
        const u = new URL(a);
        if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("scheme");
      } catch {
        throw new InputError(`not an http(s) URL: ${JSON.stringify(a)}`, { where: "Vault address" });
      }
    }
    this.opts = opts;
    this.addresses = opts.addresses.map((a) => a.replace(/\/+$/, ""));
    this.token = opts.token;
    this.dispatcher = new Agent({
      connect: {
        ca: opts.tls?.ca,
        cert: opts.tls?.cert,
        key: opts.tls?.key,
      },
      // Set on the agent, so it reaches every socket the agent opens.
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      headersTimeout: opts.timeoutMs ?? 15_000,
      bodyTimeout: opts.timeoutMs ?? 15_000,
      connectTimeout: Math.min(opts.timeoutMs ?? 15_000, 10_000),
    });
  }

  /** A client for the same servers and TLS settings with another token. */
  withToken(token: string | undefined): VaultClient {
    return new VaultClient({ ...this.opts, token });
  }

  /** A client for other servers with the same token and TLS settings. */
  withAddresses(addresses: string[]): VaultClient {
    return new VaultClient({ ...this.opts, addresses, token: this.token });
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  async request<T = Record<string, unknown>>(method: Method, path: string, ro: RequestOptions = {}): Promise<VaultResponse<T> | undefined> {
    const clean = path.replace(/^\/+/, "").replace(/^v1\//, "");
    const headers: Record<string, string> = { "X-Vault-Request": "true" };
    const token = ro.token === null ? undefined : (ro.token ?? this.token);
    if (token) headers["X-Vault-Token"] = token;
    if (ro.wrapTtl) headers["X-Vault-Wrap-TTL"] = ro.wrapTtl;
    let body: string | undefined;
    if (ro.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(ro.body);
    }
    let lastErr: VaultError | undefined;
    for (let attempt = 0; attempt < this.addresses.length; attempt++) {
      const idx = (this.current + attempt) % this.addresses.length;
      const address = this.addresses[idx]!;
      const where = `${method} ${address}/v1/${clean}`;
      const started = performance.now();
      let status: number | undefined;
      try {
        const res = await httpRequest(`${address}/v1/${clean}`, {
          method: method === "LIST" ? "GET" : method,
          headers,
          body,
          query: method === "LIST" ? { list: "true" } : undefined,
          dispatcher: this.dispatcher,
        });
        status = res.statusCode;
        const text = await res.body.text();
        // A standby that cannot forward to the active node redirects (307) to it: another address may do better.
        const redirected = status >= 300 && status < 400;
        this.emit(method, clean, address, status, !redirected && (status < 400 || (status === 404 && !!ro.allow404)), started);
        if (redirected) {
          lastErr = new VaultError(`redirected to ${String(res.headers.location ?? "?")}: a standby that cannot reach the active node`, {
            status,
            path: clean,
            where,
            fix: "wait for the cluster to elect an active node, or list every node's address",
          });
          continue;
        }
        if (RETRY_STATUS.has(status) && attempt < this.addresses.length - 1) {
          lastErr = this.httpError(status, text, clean, where);
          continue;
        }
        this.current = idx;
        if (status === 204 || (text === "" && status < 400)) return undefined;
        if (status === 404 && ro.allow404) return undefined;
        if (status >= 400) throw this.httpError(status, text, clean, where);
        try {
          return JSON.parse(text) as VaultResponse<T>;
        } catch {
          throw new VaultError(`answered ${status} with a body that is not JSON (${describeGarbage(text)})`, {
            status,
            path: clean,
            where,
            fix: "check that the address points at a Vault/OpenBao server, not a proxy or another service",
          });
        }
      } catch (err) {
        if (err instanceof VaultError) throw err;
        this.emit(method, clean, address, status, false, started);
        lastErr = new VaultError(`no answer: ${networkReason(err)}`, {
          path: clean,
          where,
          fix: "check that the server runs and the address, port and CA certificate are right",
          cause: err,
        });
      }
    }
    throw lastErr!;
  }

  async read<T = Record<string, unknown>>(path: string): Promise<T | undefined> {
    const res = await this.request<T>("GET", path, { allow404: true });
    return res?.data;
  }

  /** For the sys/ endpoints that answer without the `data` envelope (sys/leader, sys/health, sys/seal-status). */
  async readBare<T>(path: string, ro: { token?: string | null } = {}): Promise<T | undefined> {
    const res = await this.request("GET", path, { allow404: true, ...ro });
    return res as unknown as T | undefined;
  }

  async list(path: string): Promise<string[]> {
    const res = await this.request<{ keys?: string[] }>("LIST", path, { allow404: true });
    return res?.data?.keys ?? [];
  }

  async write<T = Record<string, unknown>>(path: string, body: unknown = {}, ro: Omit<RequestOptions, "body"> = {}): Promise<VaultResponse<T> | undefined> {
    return this.request<T>("POST", path, { ...ro, body });
  }

  async delete(path: string): Promise<void> {
    await this.request("DELETE", path, { allow404: true });
  }

  private emit(method: string, path: string, address: string, status: number | undefined, ok: boolean, started: number) {
    this.opts.onRequest?.({ method, path, address, status, ok, durationMs: performance.now() - started });
  }

  private httpError(status: number, text: string, path: string, where: string): VaultError {
    let errors: string[] = [];
    try {
      const parsed = JSON.parse(text) as { errors?: unknown };
      if (Array.isArray(parsed.errors)) errors = parsed.errors.map(String);
    } catch {
      errors = [describeGarbage(text)];
    }
    const detail = errors.length > 0 ? errors.join("; ") : `HTTP ${status}`;
    const fix =
      status === 403
        ? "the token's policies do not allow this path (or the token expired); check VAULT_TOKEN and the policy"
        : status === 503
          ? "the server is sealed or in standby without a leader; unseal it or try another address"
          : undefined;
    return new VaultError(`${status === 403 ? "permission denied" : `HTTP ${status}`}: ${detail}`, { status, errors, path, where, fix });
  }
}

function describeGarbage(text: string): string {
  const t = text.trim();
  if (t === "") return "empty body";
  return `starts with ${JSON.stringify(t.slice(0, 40))}`;
}

function networkReason(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.cause?.code ?? e.code;
  const msg = e.cause?.message ?? e.message ?? String(err);
  return code ? `${code} (${msg})` : msg;
}

/** Connection settings from the standard environment (VAULT_* or BAO_*), overridable by flags. */
export interface VaultConnection {
  addresses: string[];
  token?: string;
  caFile?: string;
}

export function vaultConnectionFromEnv(env: NodeJS.ProcessEnv, flags: { vaultAddr?: string; vaultToken?: string; vaultCacert?: string } = {}): VaultConnection {
  const addr = flags.vaultAddr ?? env.VAULT_ADDR ?? env.BAO_ADDR;
  const token = flags.vaultToken ?? env.VAULT_TOKEN ?? env.BAO_TOKEN;
  const caFile = flags.vaultCacert ?? env.VAULT_CACERT ?? env.BAO_CACERT;
  if (!addr) throw new InputError("no Vault address", { fix: "set VAULT_ADDR (or BAO_ADDR) or pass --vault-addr" });
  return { addresses: addr.split(",").map((s) => s.trim()).filter(Boolean), token, caFile };
}

export function clientFromConnection(conn: VaultConnection, extra: Partial<VaultClientOptions> = {}): VaultClient {
  let ca: string | undefined;
  if (conn.caFile) {
    ca = readInputFile(conn.caFile, "CA certificate", { fix: "check VAULT_CACERT / --vault-cacert" });
  }
  return new VaultClient({ addresses: conn.addresses, token: conn.token, tls: { ...extra.tls, ca: ca ?? extra.tls?.ca }, ...omit(extra, "tls") });
}

function omit<T extends object, K extends keyof T>(o: T, k: K): Omit<T, K> {
  const { [k]: _drop, ...rest } = o;
  return rest;
}
