import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { mapLimit } from "../common/async.js";
import { errorMessage } from "../common/errors.js";
import { certLife } from "../common/lifetime.js";
import type { AgentConfig, CertificateOutput, KubeconfigOutput, OutputConfig, SecretOutput } from "./config.js";
import { actionKey, actionLabel, runAction } from "./actions.js";
import { AgentMetrics } from "./metrics.js";
import {
  obtainCertificate,
  ownership,
  readCertOnDisk,
  readSecretField,
  renderKubeconfigFor,
  secretOnDisk,
  wantedCert,
  writeCertificate,
  writeIfChanged,
  type CertState,
} from "./outputs.js";
import {
  addPending,
  backoffDelay,
  failureKind,
  flushAt,
  keepUnwritten,
  probeDelay,
  recoveryDelay,
  renewalTime,
  reuseVerdict,
  type FailureKind,
  type PendingActions,
  type Random,
} from "./policy.js";
import { VaultSession } from "./session.js";
import { checkWritable, FsError, type CertContent } from "./writer.js";
import { VaultError, type VaultRequestEvent } from "../common/vault.js";
import { certFacts } from "../common/certs.js";
import type { ActionConfig } from "./config.js";

/**
 * The loop: each pass asks policy.ts what is due, obtains and writes what
 * is, and queues the actions of what changed; actions run debounced. A
 * failure touches nothing on disk and is retried with backoff; the
 * certificate already there keeps serving until it is late, then an alert.
 *
 * Recovery: while an output waits on Vault, a cheap health probe (bounded
 * rate, jittered) ends the wait as soon as Vault answers, and any answer
 * Vault gives this agent ends every wait on it, so a long outage does not
 * leave a long backoff behind. A certificate is signed only once the write
 * check passes, and one signed but not written is kept to be written later.
 */

export interface AgentOptions {
  log: Logger;
  random?: Random;
  now?: () => number;
  /** Called after every Vault request the agent makes (tests count signatures with it). */
  onVaultRequest?: (ev: VaultRequestEvent) => void;
}

export type OutputHealth = "valid" | "missing" | "invalid" | "late" | "expired";

export interface OutputStatus {
  name: string;
  type: OutputConfig["type"];
  health: OutputHealth;
  /** Why it is (or would be) renewed/rewritten, when it is. */
  reason?: string;
  serial?: string;
  notAfter?: string;
  renewAt?: string;
  lastError?: string;
  /** While backing off: when the next attempt is due (a probe may bring it forward). */
  retryAt?: string;
  /** A signed certificate that could not be written is held for the next write (its serial). */
  unwrittenSerial?: string;
}

/** A certificate Vault signed that the agent could not write yet. */
interface Unwritten {
  content: CertContent & { serial: string };
  obtainedAt: Date;
  notBefore: Date;
  notAfter: Date;
}

interface Runtime {
  out: OutputConfig;
  where: string;
  failures: number;
  retryAt: number;
  lastError?: string;
  failKind?: FailureKind;
  unwritten?: Unwritten;
  expiredReported?: string;
  /** Certificates: renewal point of the serial we know, fixed once drawn so jitter does not move on every pass. */
  serial?: string;
  renewAt?: Date;
  lateReported?: string;
  /** Secrets: next read. */
  refreshAt?: number;
}

const MAX_SLEEP_MS = 30_000;
/** Certificates obtained at once: enough to overlap key generation and Vault round trips, few enough not to burst. */
const PARALLEL = 4;
/** Actions are flushed at the latest this long after the first change, however many follow. */
const MAX_DEBOUNCE_MS = 30_000;

export class Agent {
  readonly metrics = new AgentMetrics();
  readonly session: VaultSession;
  private readonly rt: Runtime[];
  private readonly log: Logger;
  private readonly random: Random;
  readonly now: () => number;
  private pending: PendingActions<ActionConfig> | undefined;
  /** Actions started at once (http-get), awaited before `once` returns and when the loop stops. */
  private inFlight = new Set<Promise<void>>();
  private lastTick = 0;
  private notified = false;
  /** Next health probe, while something waits on Vault or on the file system. */
  private probeAt: number | undefined;
  /** Set by run(): called once when every output is ready. */
  onReady: (() => void) | undefined;

  constructor(
    readonly cfg: AgentConfig,
    opts: AgentOptions,
  ) {
    this.log = opts.log;
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
    // The host identity first (it is what later logins use), then certificates, then what is made from them.
    const order = { certificate: 1, kubeconfig: 2, secret: 3 } as const;
    this.rt = cfg.outputs
      .map((out, i) => ({ out, where: `outputs[${i}]`, failures: 0, retryAt: 0 }))
      .sort((a, b) => rank(a.out) - rank(b.out));
    function rank(o: OutputConfig): number {
      return o.name === cfg.auth.identityOutput ? 0 : order[o.type];
    }
    const identity = cfg.outputs.find((o) => o.name === cfg.auth.identityOutput) as CertificateOutput;
    this.session = new VaultSession(cfg, identity, this.log, this.metrics, this.now);
    this.session.onVaultRequest = (ev) => {
      // The probe's own answer is handled by the probe (with the recovery spread), not here.
      if (ev.ok && !ev.path.startsWith("sys/health")) this.vaultAnswered();
      opts.onVaultRequest?.(ev);
    };
  }

  /** Vault answered one of this agent's requests: nothing waits on its backoff any more. */
  private vaultAnswered(): void {
    for (const r of this.rt) {
      if (r.failures === 0 || r.failKind === "local") continue;
      r.failures = 0;
      r.retryAt = 0;
    }
  }

  /**
   * While outputs wait: one probe per probe interval (jittered), for all of
   * them. Vault's sys/health for those waiting on Vault (then they retry
   * within the recovery spread, their backoff reset); the write check for
   * those waiting on the file system (then they retry now). Nothing is
   * probed when nothing waits.
   */
  private async probeIfDue(): Promise<void> {
    const now = this.now();
    const waiting = this.rt.filter((r) => r.failures > 0 && r.retryAt > now && r.failKind !== "refused");
    if (waiting.length === 0) {
      this.probeAt = undefined;
      return;
    }
    if (this.probeAt === undefined) this.probeAt = now + probeDelay(this.cfg.renewal.probeInterval, this.random);
    if (now < this.probeAt) return;
    this.probeAt = now + probeDelay(this.cfg.renewal.probeInterval, this.random);
    const onVault = waiting.filter((r) => r.failKind === "unreachable");
    if (onVault.length > 0 && (await this.session.probe())) {
      const spread = this.cfg.renewal.recoverySpread;
      // Only the wait ends here; the backoff itself resets when Vault answers a real request (vaultAnswered).
      for (const r of onVault) r.retryAt = this.now() + recoveryDelay(spread, this.random);
      this.log.info({ outputs: onVault.map((r) => r.out.name), withinSeconds: spread }, "Vault answers again; retrying what waited on it");
    }
    for (const r of waiting) {
      if (r.failKind !== "local" || r.out.type !== "certificate") continue;
      try {
        checkWritable(r.out);
      } catch {
        continue;
      }
      r.retryAt = 0;
      this.log.info({ output: r.out.name }, "the output's folder can be written again; retrying");
    }
  }

  /** One pass over every output; returns the names of outputs written. */
  async pass(): Promise<string[]> {
    this.lastTick = this.now();
    await this.probeIfDue();
    const changed: string[] = [];
    // The identity first (later logins use it), then the other certificates side by side, then what is made of them.
    const stages = [0, 1, 2].map((stage) => this.rt.filter((r) => this.stage(r.out) === stage));
    for (const stage of stages) await mapLimit(stage, PARALLEL, (r) => this.step(r, changed));
    this.session.removeStaleSecretId();
    this.refreshGauges();
    await this.checkLate();
    if (!this.notified && this.notReady().length === 0) {
      this.notified = true;
      this.onReady?.();
    }
    return changed;
  }

  private stage(o: OutputConfig): number {
    return o.name === this.cfg.auth.identityOutput ? 0 : o.type === "certificate" ? 1 : 2;
  }

  /** One output: obtain and write when due; a failure is logged, counted and retried with backoff. */
  private async step(r: Runtime, changed: string[]): Promise<void> {
    if (this.now() < r.retryAt) return;
    try {
      const did =
        r.out.type === "certificate"
          ? await this.certificate(r, r.out)
          : r.out.type === "kubeconfig"
            ? this.kubeconfig(r, r.out)
            : await this.secret(r, r.out);
      if (did) {
        changed.push(r.out.name);
        this.metrics.outputWrites.inc({ output: r.out.name });
        // An http-get is there to be the first to use what was just written: at once, not debounced.
        for (const a of r.out.actions) if (a.type === "http-get") this.startNow(a);
        this.pending = addPending(
          this.pending,
          r.out.actions.filter((a) => a.type !== "http-get").map((a) => ({ key: actionKey(a), action: a })),
          this.now(),
        );
      }
      r.failures = 0;
      r.retryAt = 0;
      r.lastError = undefined;
      r.failKind = undefined;
    } catch (err) {
      const delay = backoffDelay(r.failures, { min: this.cfg.renewal.backoffMin, max: this.cfg.renewal.backoffMax }, this.random);
      r.failures++;
      r.retryAt = this.now() + delay;
      r.lastError = errorMessage(err);
      r.failKind = classify(err);
      if (r.failKind !== "refused") this.probeAt ??= this.now() + probeDelay(this.cfg.renewal.probeInterval, this.random);
      this.metrics.renewalFailures.inc({ output: r.out.name });
      this.log.error(
        { output: r.out.name, attempt: r.failures, retryInSeconds: Math.round(delay / 1000), waitsOn: r.failKind, err: r.lastError },
        "output not updated; files left as they were",
      );
    }
  }

  private async certificate(r: Runtime, out: CertificateOutput): Promise<boolean> {
    const disk = readCertOnDisk(out);
    const now = new Date(this.now());
    const renewAt = this.renewAtFor(r, disk);
    const v = reuseVerdict(disk, wantedCert(out), now, renewAt);
    if (v.reuse) {
      this.setUnwritten(r, undefined);
      return false;
    }
    const own = ownership(out, r.where);
    let u = r.unwritten;
    if (u && !keepUnwritten(now, certLife(u.notBefore, u.notAfter, { obtainedAt: u.obtainedAt }).signedAt, u.notAfter)) {
      this.log.info({ output: out.name, serial: u.content.serial }, "dropping a signed certificate never written: it is due for renewal itself");
      u = undefined;
    }
    if (u) {
      this.log.info({ output: out.name, reason: v.reason, serial: u.content.serial }, "writing the certificate signed earlier instead of asking for another");
    } else {
      // Before any signature: a write that cannot succeed must not cost one.
      checkWritable(out);
      this.log.info({ output: out.name, reason: v.reason, serial: disk.facts?.serial }, "requesting a certificate");
      const c = await this.session.use((client) => obtainCertificate(client, this.cfg.host, out));
      this.metrics.issued.inc({ output: out.name });
      const f = certFacts(c.certPem);
      u = { content: c, obtainedAt: new Date(this.now()), notBefore: f.notBefore, notAfter: f.notAfter };
    }
    this.setUnwritten(r, u);
    writeCertificate(out, u.content, own, u.obtainedAt);
    this.setUnwritten(r, undefined);
    const c = u.content;
    const fresh = readCertOnDisk(out);
    const next = this.renewAtFor(r, fresh);
    this.log.info(
      { output: out.name, serial: c.serial, notAfter: fresh.facts?.notAfter.toISOString(), renewAt: next?.toISOString(), previousSerial: disk.facts?.serial },
      "certificate written",
    );
    return true;
  }

  private setUnwritten(r: Runtime, u: Unwritten | undefined): void {
    r.unwritten = u;
    this.metrics.unwritten.set({ output: r.out.name }, u ? 1 : 0);
  }

  private renewAtFor(r: Runtime, disk: CertState): Date | undefined {
    const f = disk.facts;
    if (!f) return undefined;
    if (r.serial !== f.serial || !r.renewAt) {
      r.serial = f.serial;
      r.renewAt = renewalTime(certLife(f.notBefore, f.notAfter, { obtainedAt: disk.obtainedAt }).signedAt, f.notAfter, this.cfg.renewal.jitter, this.random);
    }
    return r.renewAt;
  }

  private certOutput(name: string): CertificateOutput {
    return this.cfg.outputs.find((o) => o.name === name && o.type === "certificate") as CertificateOutput;
  }

  private kubeconfig(r: Runtime, out: KubeconfigOutput): boolean {
    const cert = this.certOutput(out.certificate);
    const content = renderKubeconfigFor(out, cert, readCertOnDisk(cert));
    if (content === undefined) throw new Error(`certificate output "${cert.name}" is not on disk yet`);
    return writeIfChanged(out.path, content, ownership(out, r.where));
  }

  private async secret(r: Runtime, out: SecretOutput): Promise<boolean> {
    if (r.refreshAt !== undefined && this.now() < r.refreshAt && secretOnDisk(out) !== undefined) return false;
    const own = ownership(out, r.where);
    const value = await this.session.use((c) => readSecretField(c, out));
    r.refreshAt = this.now() + this.cfg.renewal.secretInterval * 1000;
    return writeIfChanged(out.path, value, own);
  }

  /** Runs the queued actions when their debounce time has come (or now, with force). */
  async flushActions(force = false): Promise<void> {
    const p = this.pending;
    if (!p) return;
    if (!force && this.now() < flushAt(p, this.cfg.renewal.debounce * 1000, MAX_DEBOUNCE_MS)) return;
    this.pending = undefined;
    for (const a of p.actions.values()) await this.runOne(a);
  }

  private startNow(a: ActionConfig): void {
    const p: Promise<void> = this.runOne(a).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  private async runOne(a: ActionConfig): Promise<void> {
    const res = await runAction(a);
    const label = actionLabel(a);
    this.metrics.actions.inc({ action: label, result: res.ok ? "success" : res.timedOut ? "timeout" : "failure" });
    if (res.ok) this.log.info({ action: label }, "action ran");
    else this.log.error({ action: label, code: res.code, timedOut: res.timedOut, stderr: res.stderr, err: res.error }, "action failed");
  }

  status(): OutputStatus[] {
    const now = new Date(this.now());
    return this.rt.map((r) => outputStatus(r, now));
  }

  /** Names of outputs that are not present and valid. */
  notReady(): string[] {
    return this.status()
      .filter((s) => s.health !== "valid" && s.health !== "late")
      .map((s) => s.name);
  }

  /** The Vault token the agent holds, if any: /status reports it, so enrollment can tell the agent needs no secret ID. */
  login(): { method?: string; tokenExpiresAt?: string } | undefined {
    const exp = this.session.tokenExpiresAt;
    if (!this.session.method || exp <= this.now()) return undefined;
    return { method: this.session.method, tokenExpiresAt: new Date(exp).toISOString() };
  }

  alive(): boolean {
    return this.now() - this.lastTick < MAX_SLEEP_MS * 4;
  }

  private refreshGauges(): void {
    const now = new Date(this.now());
    for (const r of this.rt) {
      const s = outputStatus(r, now);
      const ok = s.health === "valid" || s.health === "late";
      this.metrics.ready.set({ output: r.out.name, condition: "True" }, ok ? 1 : 0);
      this.metrics.ready.set({ output: r.out.name, condition: "False" }, ok ? 0 : 1);
      if (r.out.type !== "certificate") continue;
      if (s.notAfter) this.metrics.expiration.set({ output: r.out.name }, Date.parse(s.notAfter) / 1000);
      if (r.renewAt) this.metrics.renewal.set({ output: r.out.name }, r.renewAt.getTime() / 1000);
      // Late stays 1 once expired: an alert on it must not go quiet when things get worse.
      this.metrics.late.set({ output: r.out.name }, s.health === "late" || s.health === "expired" ? 1 : 0);
      this.metrics.expired.set({ output: r.out.name }, s.health === "expired" ? 1 : 0);
      for (const st of OUTPUT_STATES) this.metrics.state.set({ output: r.out.name, state: st }, s.health === st ? 1 : 0);
    }
  }

  /**
   * A certificate in its last sixth without renewal: one error log, and the
   * webhook, per certificate; once it expires, one more of each (state
   * "expired"), so the receiver learns that it got worse.
   */
  private async checkLate(): Promise<void> {
    const now = new Date(this.now());
    for (const r of this.rt) {
      if (r.out.type !== "certificate") continue;
      const disk = readCertOnDisk(r.out);
      const f = disk.facts;
      const life = f && certLife(f.notBefore, f.notAfter, { obtainedAt: disk.obtainedAt });
      if (!f || !life || now < life.lateAt) continue;
      const expired = now >= f.notAfter;
      if (expired ? r.expiredReported === f.serial : r.lateReported === f.serial) continue;
      r.lateReported = f.serial;
      if (expired) r.expiredReported = f.serial;
      const body = {
        host: this.cfg.host,
        output: r.out.name,
        state: expired ? "expired" : "late",
        serial: f.serial,
        notAfter: f.notAfter.toISOString(),
        lateSince: life.lateAt.toISOString(),
        lastError: r.lastError,
      };
      this.log.error(body, expired ? "certificate has expired without renewal" : "certificate is late: in its last sixth of life without renewal");
      if (this.cfg.lateWebhook) await this.postWebhook(this.cfg.lateWebhook, body);
    }
  }

  private async postWebhook(url: string, body: unknown): Promise<void> {
    try {
      const res = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
      this.metrics.webhooks.inc({ result: res.ok ? "success" : "failure" });
      if (!res.ok) this.log.error({ url, status: res.status }, "late webhook answered with an error");
    } catch (err) {
      this.metrics.webhooks.inc({ result: "failure" });
      this.log.error({ url, err: errorMessage(err) }, "late webhook failed");
    }
  }

  /** Milliseconds until something is due: a renewal, a retry, a secret read, an action flush, a late point, a token renewal. */
  nextWakeIn(): number {
    const now = this.now();
    const times: number[] = [now + MAX_SLEEP_MS];
    for (const r of this.rt) {
      // Only future points: a renewal that is past but waiting out its backoff wakes at retryAt, not in a busy loop.
      for (const t of [r.retryAt, r.renewAt?.getTime(), r.refreshAt]) if (t !== undefined && t > now) times.push(t);
      // A retry whose time came while the pass ran (a probe or an answer moved it forward): at once.
      if (r.failures > 0 && r.retryAt <= now) times.push(now);
    }
    if (this.probeAt !== undefined) times.push(this.probeAt);
    if (this.pending) times.push(flushAt(this.pending, this.cfg.renewal.debounce * 1000, MAX_DEBOUNCE_MS));
    const t = this.session.tokenRenewAt;
    if (t > 0) times.push(t);
    return Math.max(50, Math.min(...times) - now);
  }

  /** `hak-agent once`: one pass, actions run at once; true when every output is ready. */
  async once(): Promise<boolean> {
    try {
      await this.pass();
      await this.flushActions(true);
      await Promise.all(this.inFlight);
      return this.notReady().length === 0;
    } finally {
      await this.session.close();
    }
  }

  /** `hak-agent run`: passes until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    try {
      while (!signal.aborted) {
        await this.pass();
        await this.flushActions();
        await this.session.renewIfDue().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, "token renewal failed"));
        await sleep(this.nextWakeIn(), undefined, { signal }).catch(() => undefined);
      }
      await this.flushActions(true);
      await Promise.all(this.inFlight);
    } finally {
      await this.session.close();
    }
  }
}

const OUTPUT_STATES: readonly OutputHealth[] = ["valid", "missing", "invalid", "late", "expired"];

/** The failure's kind from its facts: a file-system error anywhere in the chain, else the first Vault status in it. */
function classify(err: unknown): FailureKind {
  let local = false;
  const vault: { status: number | undefined; errors: string[] }[] = [];
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof FsError) local = true;
    if (e instanceof VaultError) vault.push({ status: e.status, errors: e.errors });
  }
  return failureKind({ local, vault });
}

export function outputStatus(r: Runtime, now: Date): OutputStatus {
  const base = {
    name: r.out.name,
    type: r.out.type,
    lastError: r.lastError,
    retryAt: r.failures > 0 && r.retryAt > now.getTime() ? new Date(r.retryAt).toISOString() : undefined,
    unwrittenSerial: r.unwritten?.content.serial,
  };
  if (r.out.type === "certificate") {
    const disk = readCertOnDisk(r.out);
    const f = disk.facts;
    if (!f) return { ...base, health: "missing", reason: "no certificate on disk" };
    const info = { serial: f.serial, notAfter: f.notAfter.toISOString(), renewAt: r.renewAt?.toISOString() };
    if (now >= f.notAfter) return { ...base, ...info, health: "expired" };
    const v = reuseVerdict(disk, wantedCert(r.out), now, r.renewAt);
    const reason = v.reuse ? undefined : v.reason;
    if (!disk.keyMatches || !disk.signedByCa) return { ...base, ...info, health: "invalid", reason };
    if (now >= certLife(f.notBefore, f.notAfter, { obtainedAt: disk.obtainedAt }).lateAt) return { ...base, ...info, health: "late", reason };
    return { ...base, ...info, health: "valid", reason };
  }
  const present = secretOnDisk(r.out) !== undefined;
  return { ...base, health: present ? "valid" : "missing", reason: present ? undefined : "file missing" };
}

/** A fresh runtime per output, for `check` (no Vault, no writes). */
export function checkOutputs(cfg: AgentConfig, now: Date): OutputStatus[] {
  return cfg.outputs.map((out, i) => {
    const r: Runtime = { out, where: `outputs[${i}]`, failures: 0, retryAt: 0 };
    const st = outputStatus(r, now);
    if (out.type === "certificate" && st.notAfter) {
      const disk = readCertOnDisk(out);
      const f = disk.facts!;
      // The nominal point, without jitter.
      const nominal = certLife(f.notBefore, f.notAfter, { obtainedAt: disk.obtainedAt }).dueAt;
      st.renewAt = nominal.toISOString();
      const v = reuseVerdict(disk, wantedCert(out), now, nominal);
      st.reason = v.reuse ? undefined : v.reason;
    }
    try {
      ownership(out, `outputs[${i}]`);
    } catch (err) {
      st.lastError = errorMessage(err);
    }
    return st;
  });
}
