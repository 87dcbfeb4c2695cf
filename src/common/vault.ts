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
  /** Where `ca` was read from and who named it ("VAULT_CACERT=/etc/vault-ca.crt"), for error messages. */
  caSource?: string;
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
  /** Per-request timeout (time to the answer's headers, and between body chunks), milliseconds. Default 15 s. */
  timeoutMs?: number;
  /**
   * TCP + TLS connect timeout, milliseconds. Default min(timeoutMs, 3 s): a
   * node on a LAN that has not completed a handshake in 3 s is down, and with
   * several addresses the next one should be tried without waiting out the
   * whole request timeout (a SIGKILLed host's address then costs 3 s, not 15).
   */
  connectTimeoutMs?: number;
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
/**
 * The one 500 that says the request was not served: a standby (a raft node
 * just restarted and unsealed) that does not know the active node yet. The
 * next address can serve it (the HA cluster rows saw every agent's login
 * fail on a restarted first address for seconds without this).
 */
const STANDBY_WITHOUT_ACTIVE = /local node not active but active cluster node not found/;

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
      connectTimeout: opts.connectTimeoutMs ?? Math.min(opts.timeoutMs ?? 15_000, 3_000),
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
        if ((RETRY_STATUS.has(status) || (status === 500 && STANDBY_WITHOUT_ACTIVE.test(text))) && attempt < this.addresses.length - 1) {
          lastErr = this.httpError(status, text, clean, where);
          continue;
        }
        this.current = idx;
        if (status === 204 || (text === "" && status < 400)) return undefined;
        if (status === 404 && ro.allow404) return undefined;
        if (status >= 400) throw await this.explain(this.httpError(status, text, clean, where), token);
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
        lastErr = this.networkError(err, address, clean, where);
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

  /**
   * A 403 does not say why: Vault answers "permission denied" both to a token
   * that lacks the policy and to one that expired or was revoked. Asking
   * Vault about the token itself (lookup-self, which every valid token may
   * call) tells them apart.
   */
  private async explain(err: VaultError, token: string | undefined): Promise<VaultError> {
    if (err.status !== 403 || !token || err.path.startsWith("auth/token/lookup-self") || /\/login$/.test(err.path)) return err;
    let self: { policies?: string[]; display_name?: string; expire_time?: string | null } | undefined;
    try {
      const res = await this.request<{ policies?: string[]; display_name?: string; expire_time?: string | null }>("GET", "auth/token/lookup-self", { token });
      self = res?.data ?? {};
    } catch (e) {
      if (e instanceof VaultError && e.status === 403) {
        return new VaultError("the token is not valid: expired, revoked, or never issued by this server", {
          status: 403,
          errors: err.errors,
          path: err.path,
          where: err.where ?? err.path,
          fix: "get a new token (log in again) and export VAULT_TOKEN; `hak-pki local-server start --env` prints one for the local server",
        });
      }
      return err;
    }
    const policies = (self.policies ?? []).join(", ") || "none";
    return new VaultError(`permission denied: the token (policies: ${policies}) may not do this`, {
      status: 403,
      errors: err.errors,
      path: err.path,
      where: err.where ?? err.path,
      fix: "use a token whose policy allows this path: hak-operator for bootstrap and issue, hak-auditor for status and serve",
    });
  }

  /** No HTTP answer: say which of the usual causes it is (TLS trust, wrong scheme, nothing listening). */
  private networkError(err: unknown, address: string, path: string, where: string): VaultError {
    const code = networkCode(err);
    const ca = this.opts.tls?.caSource;
    let message = `no answer: ${networkReason(err)}`;
    let fix = "check that the server runs and the address, port and CA certificate are right";
    if (code && UNTRUSTED_CERT.has(code)) {
      message = `the server's certificate is not signed by a CA this client trusts (${code})`;
      fix = ca
        ? `${ca} is not the CA that signed ${address}'s certificate: point VAULT_CACERT (or --vault-cacert) at the right one`
        : "name the CA that signed the server's certificate: export VAULT_CACERT=FILE or pass --vault-cacert FILE (the local server's is .state/bao/tls/ca.crt)";
    } else if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
      message = `the server's certificate does not name ${new URL(address).hostname} (${code})`;
      fix = "use an address the certificate names (its DNS or IP SANs) in VAULT_ADDR";
    } else if (code === "EPROTO" || /wrong version number|packet length too long/i.test(String((err as Error)?.message ?? "") + String((err as { cause?: Error }).cause?.message ?? ""))) {
      message = "the server does not speak TLS at this address";
      fix = `use ${address.replace(/^https:/, "http:")} (http://), or enable TLS on the server`;
    } else if (code === "ECONNREFUSED") {
      message = `no answer: ECONNREFUSED (nothing listens at ${address})`;
      fix = "start the server, or check the host and port in VAULT_ADDR (`hak-pki local-server start` for the local one)";
    }
    return new VaultError(message, { path, where, fix, cause: err });
  }

  private httpError(status: number, text: string, path: string, where: string): VaultError {
    let errors: string[] = [];
    try {
      const parsed = JSON.parse(text) as { errors?: unknown };
      if (Array.isArray(parsed.errors)) errors = parsed.errors.map(String);
    } catch {
      errors = [describeGarbage(text)];
    }
    if (status === 400 && /client sent an http request to an https server/i.test(text)) {
      const address = where.replace(/^\S+ /, "").replace(/\/v1\/.*$/, "");
      return new VaultError("the server speaks HTTPS, but the address says http://", {
        status,
        errors: [text.trim()],
        path,
        where,
        fix: `use ${address.replace(/^http:/, "https:")} (https://) in VAULT_ADDR or --vault-addr`,
      });
    }
    const detail = errors.length > 0 ? errors.join("; ") : `HTTP ${status}`;
    const fix =
      status === 403
        ? "the token's policies do not allow this path (or the token expired); check VAULT_TOKEN and the policy"
        : status === 503
          ? "the server is sealed or in standby without a leader; unseal it or try another address"
          : undefined;
    // Vault's own 403 text is "permission denied": do not say it twice.
    const head = status === 403 ? "permission denied" : `HTTP ${status}`;
    return new VaultError(detail.toLowerCase() === head ? head : `${head}: ${detail}`, { status, errors, path, where, fix });
  }
}

function describeGarbage(text: string): string {
  const t = text.trim();
  if (t === "") return "empty body";
  return `starts with ${JSON.stringify(t.slice(0, 40))}`;
}

/** Node's codes for a server certificate that does not chain to a trusted CA. */
const UNTRUSTED_CERT = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
  "CERT_SIGNATURE_FAILURE",
]);

function networkCode(err: unknown): string | undefined {
  const e = err as { code?: string; cause?: { code?: string } };
  return e.cause?.code ?? e.code;
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
  /** Who named caFile: "--vault-cacert", "VAULT_CACERT" or "BAO_CACERT". */
  caFrom?: string;
}

export function vaultConnectionFromEnv(env: NodeJS.ProcessEnv, flags: { vaultAddr?: string; vaultToken?: string; vaultCacert?: string } = {}): VaultConnection {
  const addr = flags.vaultAddr ?? env.VAULT_ADDR ?? env.BAO_ADDR;
  const token = flags.vaultToken ?? env.VAULT_TOKEN ?? env.BAO_TOKEN;
  const caFile = flags.vaultCacert ?? env.VAULT_CACERT ?? env.BAO_CACERT;
  const caFrom = flags.vaultCacert !== undefined ? "--vault-cacert" : env.VAULT_CACERT !== undefined ? "VAULT_CACERT" : env.BAO_CACERT !== undefined ? "BAO_CACERT" : undefined;
  if (!addr) throw new InputError("no Vault address", { fix: "set VAULT_ADDR (or BAO_ADDR) or pass --vault-addr" });
  return { addresses: addr.split(",").map((s) => s.trim()).filter(Boolean), token, caFile, ...(caFrom ? { caFrom } : {}) };
}

export function clientFromConnection(conn: VaultConnection, extra: Partial<VaultClientOptions> = {}): VaultClient {
  let ca: string | undefined;
  const from = conn.caFrom ?? "VAULT_CACERT / --vault-cacert";
  if (conn.caFile) {
    ca = readInputFile(conn.caFile, "the Vault CA certificate", {
      where: from,
      fix: `point ${from} at the PEM file of the CA that signed the server's certificate (the local server's: .state/bao/tls/ca.crt)`,
    });
    if (!ca.includes("-----BEGIN CERTIFICATE-----"))
      throw new InputError(`${JSON.stringify(conn.caFile)} holds no PEM certificate`, { where: from, fix: `point ${from} at the CA certificate (PEM, "-----BEGIN CERTIFICATE-----")` });
  }
  const caSource = conn.caFile ? `${from}=${conn.caFile}` : undefined;
  return new VaultClient({ addresses: conn.addresses, token: conn.token, tls: { ...extra.tls, ca: ca ?? extra.tls?.ca, ...(caSource ? { caSource } : {}) }, ...omit(extra, "tls") });
}

function omit<T extends object, K extends keyof T>(o: T, k: K): Omit<T, K> {
  const { [k]: _drop, ...rest } = o;
  return rest;
}
