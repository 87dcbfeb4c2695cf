import { existsSync, readFileSync, unlinkSync } from "node:fs";
import type { Logger } from "pino";
import { HakError, readInputFile } from "../common/errors.js";
import { VaultClient, VaultError, type VaultAuth, type VaultRequestEvent } from "../common/vault.js";
import { certFacts, keyMatchesCert } from "../common/x509.js";
import type { AgentConfig, CertificateOutput } from "./config.js";
import type { AgentMetrics } from "./metrics.js";

/**
 * The agent's Vault token: TLS cert auth with the host identity whenever a
 * valid one is on disk, AppRole with the single-use secret ID otherwise (the
 * first start); the secret-ID file is deleted once it has been used, so no
 * long-lived secret stays on the host. The token is renewed at 2/3 of its
 * TTL; a refused renewal or a 403 leads to a new login.
 */

export type LoginMethod = "cert" | "approle";

export class VaultSession {
  private client: VaultClient | undefined;
  private expiresAt = 0;
  private renewAt = 0;
  method: LoginMethod | undefined;
  private readonly ca: string | undefined;
  /** Called after every Vault request, besides the metrics (the agent resets its backoffs on an answer). */
  onVaultRequest: ((ev: VaultRequestEvent) => void) | undefined;
  private prober: VaultClient | undefined;

  constructor(
    private readonly cfg: AgentConfig,
    private readonly identity: CertificateOutput,
    private readonly log: Logger,
    private readonly metrics: AgentMetrics,
    private readonly now: () => number = Date.now,
  ) {
    if (cfg.vault.caFile) {
      this.ca = readInputFile(cfg.vault.caFile, "the Vault CA file", { where: "vault.caFile " + cfg.vault.caFile });
    }
  }

  /** Token expiry, ms since epoch (0 before the first login). */
  get tokenExpiresAt(): number {
    return this.expiresAt;
  }

  /** When the token is renewed next, ms since epoch (0 without a token). */
  get tokenRenewAt(): number {
    return this.client ? this.renewAt : 0;
  }

  /** Renews the token when its time has come, so it never lapses while no output needs Vault. */
  async renewIfDue(): Promise<void> {
    if (this.client && this.now() >= this.renewAt) await this.ensure();
  }

  /** Runs `fn` with a logged-in client; after a 403 (token revoked or expired) logs in again and retries once. */
  async use<T>(fn: (c: VaultClient) => Promise<T>): Promise<T> {
    const c = await this.ensure();
    try {
      return await fn(c);
    } catch (err) {
      if (!(err instanceof VaultError && err.status === 403)) throw err;
      this.log.warn({ path: err.path }, "Vault refused the token; logging in again");
      // Outputs run side by side: only the first to see the refusal drops the client they shared.
      if (this.client === c) this.drop();
      return fn(await this.ensure());
    }
  }

  private inflight: Promise<VaultClient> | undefined;

  /** A logged-in client; renews the token when due, logs in when there is none or it is (nearly) expired. One at a time. */
  ensure(): Promise<VaultClient> {
    this.inflight ??= this.ensureNow().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async ensureNow(): Promise<VaultClient> {
    const now = this.now();
    if (this.client && now < this.expiresAt - 5_000) {
      if (now >= this.renewAt) await this.renew();
      if (this.client) return this.client;
    }
    return this.login();
  }

  private async renew(): Promise<void> {
    const c = this.client!;
    try {
      const res = await c.write("auth/token/renew-self", {});
      const auth = res?.auth;
      if (!auth) throw new HakError("renew-self answered without auth");
      // Past the token's max TTL Vault renews for less than asked; log in anew once little is left.
      if (auth.lease_duration < 60) {
        this.drop();
        return;
      }
      this.setToken(auth);
      this.log.debug({ ttl: auth.lease_duration }, "token renewed");
    } catch (err) {
      if (err instanceof VaultError && err.status === undefined) {
        // Vault did not answer: the token itself is still good until it expires; try again in a while.
        this.renewAt = Math.min(this.now() + 30_000, this.expiresAt);
        this.log.warn({ err: err.message }, "token renewal failed: Vault did not answer; keeping the token");
        return;
      }
      this.log.warn({ err: (err as Error).message }, "token renewal refused; logging in again");
      this.drop();
    }
  }

  private drop(): void {
    const old = this.client;
    this.client = undefined;
    this.expiresAt = 0;
    void old?.close();
  }

  private setToken(auth: VaultAuth): void {
    const now = this.now();
    this.expiresAt = now + auth.lease_duration * 1000;
    this.renewAt = auth.renewable ? now + (auth.lease_duration * 1000 * 2) / 3 : this.expiresAt;
    this.metrics.tokenExpiration.set(this.expiresAt / 1000);
  }

  private newClient(tls: { cert?: string; key?: string } = {}, timeoutMs = this.cfg.vault.timeout * 1000): VaultClient {
    return new VaultClient({
      addresses: this.cfg.vault.addresses,
      tls: { ca: this.ca, ...tls },
      localAddress: this.cfg.vault.sourceAddress,
      timeoutMs,
      onRequest: (ev) => {
        this.metrics.onVaultRequest(ev);
        this.onVaultRequest?.(ev);
      },
    });
  }

  /**
   * Does Vault answer? `sys/health` without a token: no login, no audit
   * entry, no storage read, so agents may ask it often while they wait.
   * True when some address is unsealed and active or a standby (which
   * forwards); false when nothing answers, or only sealed or uninitialised
   * nodes do. Short timeout: a probe must never hold the loop.
   */
  async probe(): Promise<boolean> {
    this.prober ??= this.newClient({}, Math.min(this.cfg.vault.timeout * 1000, 2_000));
    try {
      await this.prober.request("GET", "sys/health?standbyok=true&perfstandbyok=true", { token: null });
      this.metrics.probes.inc({ result: "up" });
      return true;
    } catch {
      this.metrics.probes.inc({ result: "down" });
      return false;
    }
  }

  /** The identity certificate and key on disk, when they are complete and not expired. */
  private identityOnDisk(): { cert: string; key: string } | undefined {
    try {
      const cert = readFileSync(this.identity.certFile, "utf8");
      const key = readFileSync(this.identity.keyFile, "utf8");
      const f = certFacts(cert);
      if (f.notAfter.getTime() <= this.now() || !keyMatchesCert(key, cert)) return undefined;
      return { cert, key };
    } catch {
      return undefined;
    }
  }

  async login(): Promise<VaultClient> {
    this.drop();
    const id = this.identityOnDisk();
    let certErr: unknown;
    if (id) {
      const c = this.newClient(id);
      try {
        const res = await c.write("auth/" + this.cfg.auth.certMount + "/login", { name: this.cfg.auth.certRole ?? this.cfg.host }, { token: null });
        return this.accept(c, res?.auth, "cert");
      } catch (err) {
        await c.close();
        this.metrics.logins.inc({ method: "cert", result: "failure" });
        certErr = err;
        this.log.warn({ err: (err as Error).message }, "TLS cert login failed; trying AppRole");
      }
    }
    const secretId = this.readSecretId(certErr);
    const c = this.newClient();
    try {
      const res = await c.write(
        `auth/${this.cfg.auth.approleMount}/login`,
        { role_id: this.cfg.auth.roleId, secret_id: secretId },
        { token: null },
      );
      const out = this.accept(c, res?.auth, "approle");
      this.consumeSecretId();
      return out;
    } catch (err) {
      await c.close();
      this.metrics.logins.inc({ method: "approle", result: "failure" });
      if (err instanceof VaultError && (err.status === 400 || err.status === 403)) {
        throw new HakError(`AppRole login refused: ${err.message}`, {
          where: this.cfg.auth.secretIdFile,
          fix: "the secret ID is used, expired or bound to another address: enroll the host again (hak-deploy enroll)",
          cause: err,
        });
      }
      throw err;
    }
  }

  private accept(c: VaultClient, auth: VaultAuth | undefined, method: LoginMethod): VaultClient {
    if (!auth?.client_token) throw new HakError(`${method} login answered without a token`, { where: c.addresses.join(", ") });
    c.token = auth.client_token;
    this.client = c;
    this.method = method;
    this.setToken(auth);
    this.metrics.logins.inc({ method, result: "success" });
    this.log.info({ method, ttl: auth.lease_duration, policies: auth.token_policies ?? auth.policies }, "logged in to Vault");
    return c;
  }

  /**
   * A secret-ID file found while the host identity works is stale: pushed by
   * an enrollment the agent did not need (it still held a token or a valid
   * identity). It is single-use and address-bound, but it is a credential
   * lying on disk for nothing. Called after each pass.
   */
  removeStaleSecretId(): void {
    const file = this.cfg.auth.secretIdFile;
    // Only once the agent has shown it does without: a token in hand and an identity that will log in next time.
    if (!existsSync(file) || !this.client || this.now() >= this.expiresAt || !this.identityOnDisk()) return;
    try {
      unlinkSync(file);
      this.metrics.staleSecretIds.inc();
      this.log.info({ file }, "stale secret-ID file removed: the host identity logs in, no secret ID is needed");
    } catch (err) {
      this.log.warn({ file, err: (err as NodeJS.ErrnoException).code }, "could not remove a stale secret-ID file");
    }
  }

  private readSecretId(certErr: unknown): string {
    const file = this.cfg.auth.secretIdFile;
    try {
      const s = readFileSync(file, "utf8").trim();
      if (!s) throw new HakError("the secret-ID file is empty", { where: file, fix: "enroll the host again (hak-deploy enroll)" });
      return s;
    } catch (err) {
      if (err instanceof HakError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") {
        throw new HakError(
          certErr
            ? `TLS cert login failed (${(certErr as Error).message}) and there is no secret ID for AppRole`
            : "no valid host identity certificate on disk and no secret ID for a first login",
          { where: file, fix: "enroll the host (hak-deploy enroll) to push a single-use secret ID", cause: certErr },
        );
      }
      throw new HakError(`cannot read the secret-ID file: ${code ?? String(err)}`, {
        where: file,
        fix: "the agent runs as root and needs to read it; check the file's mode and the unit's ReadWritePaths",
      });
    }
  }

  private consumeSecretId(): void {
    try {
      unlinkSync(this.cfg.auth.secretIdFile);
      this.log.info({ file: this.cfg.auth.secretIdFile }, "secret ID used and removed");
    } catch (err) {
      // Single-use on the server side anyway; the file is ignored from now on (cert auth comes first).
      this.log.warn({ file: this.cfg.auth.secretIdFile, err: (err as NodeJS.ErrnoException).code }, "could not remove the used secret-ID file");
    }
  }

  async close(): Promise<void> {
    const c = this.client;
    const p = this.prober;
    this.client = undefined;
    this.prober = undefined;
    await Promise.all([c?.close(), p?.close()]);
  }
}
