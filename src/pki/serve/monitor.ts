import { loadInventory, type Inventory } from "../../common/inventory.js";
import type { VaultClient } from "../../common/vault.js";
import { readFileSync, statSync } from "node:fs";
import { errorMessage } from "../../common/errors.js";
import { writeFileAtomic } from "../../common/fsutil.js";
import { listIssued, type IssuedCache } from "../issued.js";
import { parseBook, serializeBook, stepAlerts, webhookPayloads, type ActiveAlert, type AlertEvent } from "./alerts.js";
import { checkDrift, type DriftOptions, type DriftReport } from "./drift.js";
import { computeFleet, countByState, type CertState, type FleetEntry } from "./fleet.js";
import { WebhookQueue, type DeliveryResult, type RetryPolicy } from "./webhook.js";

/**
 * The I/O loop around the pure core: every interval it reads what Vault has
 * signed (and, less often, the drift plan), recomputes the fleet, steps the
 * alert state machine and queues webhook payloads. HTTP handlers only read
 * the last snapshot, so a page view never costs a Vault round trip.
 */

export interface Snapshot {
  cluster: string;
  generatedAt: string;
  /** When Vault last answered; the fleet below is from then. */
  lastSuccess?: string;
  /** Why the last refresh failed, if it did. */
  error?: string;
  fleet: FleetEntry[];
  counts: Record<CertState, number>;
  drift?: DriftReport;
  driftError?: string;
  alerts: ActiveAlert[];
  /** The inventory file changed but could not be used; the last good one is still in force. */
  inventoryError?: string;
}

export interface MonitorLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface MonitorOptions {
  /** The inventory at start. */
  inventory: Inventory;
  /**
   * The file it came from: re-read whenever it changes (mtime, size or inode),
   * so a new leafTtl or host shows without a restart and drift compares
   * against the same inventory bootstrap last used.
   */
  inventoryFile?: string;
  /** A read-only client (the auditor policy's token). */
  client: VaultClient;
  /** Alertmanager-compatible webhook receiver; none: alerts only show on the page and in /metrics. */
  webhookUrl?: string;
  /** Where this serve is reached, for generatorURL/externalURL in webhooks. */
  externalUrl: string;
  retry?: RetryPolicy;
  drift?: DriftOptions;
  /** Skip the drift check (it reads every Vault object hak owns). */
  noDrift?: boolean;
  /** Where the firing alerts are kept across restarts; none: in memory only (a restart fires them again). */
  stateFile?: string;
  log?: MonitorLog;
  now?: () => Date;
}

export interface MonitorStats {
  refreshes: number;
  refreshErrors: number;
  webhookDelivered: number;
  webhookFailed: number;
  alertEvents: number;
}

export class FleetMonitor {
  private snap: Snapshot;
  private book = new Map<string, ActiveAlert>();
  private readonly queue: WebhookQueue | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<Snapshot> | undefined;
  private hostNames: Set<string>;
  private inv: Inventory;
  private invStamp: string | undefined;
  private inventoryError: string | undefined;
  /** Certificates already read from Vault; each refresh fetches only new serials. */
  private readonly issuedCache: IssuedCache = new Map();
  readonly stats: MonitorStats = { refreshes: 0, refreshErrors: 0, webhookDelivered: 0, webhookFailed: 0, alertEvents: 0 };

  constructor(private readonly opts: MonitorOptions) {
    this.inv = opts.inventory;
    this.hostNames = new Set(opts.inventory.hosts.map((h) => h.name));
    if (opts.inventoryFile) this.invStamp = fileStamp(opts.inventoryFile);
    if (opts.stateFile) this.book = loadBook(opts.stateFile, opts.log);
    const now = this.now();
    this.snap = { cluster: opts.inventory.name, generatedAt: now.toISOString(), error: "not read yet", fleet: [], counts: countByState([]), alerts: [] };
    if (opts.webhookUrl) {
      this.queue = new WebhookQueue(opts.webhookUrl, {
        retry: opts.retry,
        log: opts.log,
        onResult: (r: DeliveryResult, p) => {
          if (r.ok) this.stats.webhookDelivered++;
          else {
            this.stats.webhookFailed++;
            opts.log?.warn(
              { url: opts.webhookUrl, status: p.status, alerts: p.alerts.length, attempts: r.attempts, error: r.error },
              r.retryable ? "webhook receiver unreachable; the payload is kept and sent again on the next refresh" : "webhook refused by the receiver",
            );
          }
        },
      });
    }
  }

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** The inventory in force (the last good read of inventoryFile). */
  inventory(): Inventory {
    return this.inv;
  }

  /** Re-reads the inventory file if it changed; a bad edit keeps the last good inventory and says why. */
  private followInventory(): void {
    const file = this.opts.inventoryFile;
    if (!file) return;
    const stamp = fileStamp(file);
    if (stamp === this.invStamp) return;
    this.invStamp = stamp;
    try {
      const next = loadInventory(file);
      const hostsChanged = next.hosts.map((h) => h.name).join() !== this.inv.hosts.map((h) => h.name).join();
      this.inv = next;
      this.hostNames = new Set(next.hosts.map((h) => h.name));
      // Cached leaves were mapped to hosts by name: a changed host list maps them again.
      if (hostsChanged) this.issuedCache.clear();
      this.inventoryError = undefined;
      this.opts.log?.info({ file, leafTtl: next.leafTtl, hosts: next.hosts.length }, "inventory changed; serve follows it");
    } catch (err) {
      this.inventoryError = `${errorMessage(err)} (serve keeps the inventory it read before)`;
      this.opts.log?.warn({ file, error: this.inventoryError }, "inventory changed but cannot be used");
    }
  }

  /** One refresh; concurrent callers share the one in flight. */
  refresh(opts: { drift?: boolean } = {}): Promise<Snapshot> {
    this.running ??= this.doRefresh(opts.drift ?? !this.opts.noDrift).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async doRefresh(withDrift: boolean): Promise<Snapshot> {
    this.stats.refreshes++;
    this.followInventory();
    const { client } = this.opts;
    const inv = this.inv;
    let next: Snapshot;
    try {
      const issued = await listIssued(client, this.hostNames, this.issuedCache);
      const now = this.now();
      const fleet = computeFleet(inv, issued, now);
      const { book, events } = stepAlerts(this.book, fleet, inv.name, now);
      this.book = book;
      if (events.length > 0 && this.opts.stateFile) writeFileAtomic(this.opts.stateFile, serializeBook(book), { mode: 0o600 });
      // Payloads a down receiver could not take go first, so it sees transitions in order.
      this.queue?.retryParked();
      this.emit(events);
      next = { cluster: inv.name, generatedAt: now.toISOString(), lastSuccess: now.toISOString(), fleet, counts: countByState(fleet), alerts: [...book.values()], drift: this.snap.drift, driftError: this.snap.driftError, inventoryError: this.inventoryError };
    } catch (err) {
      // Vault unreachable: keep the last known fleet (and alert book) rather than calling everything missing.
      this.stats.refreshErrors++;
      next = { ...this.snap, generatedAt: this.now().toISOString(), error: errorMessage(err), inventoryError: this.inventoryError };
      this.opts.log?.warn({ error: next.error }, "fleet refresh failed");
    }
    if (withDrift) {
      try {
        const drift = await checkDrift(client, inv, this.opts.drift ?? {}, this.now());
        next = { ...next, drift, driftError: undefined };
        if (drift.items.length > 0) this.opts.log?.warn({ drift: drift.items.map((d) => `${d.action} ${d.id}`) }, "Vault differs from the desired state");
      } catch (err) {
        next = { ...next, driftError: errorMessage(err) };
      }
    }
    this.snap = next;
    return next;
  }

  private emit(events: AlertEvent[]): void {
    if (events.length === 0) return;
    this.stats.alertEvents += events.length;
    for (const e of events) this.opts.log?.info({ status: e.status, alert: e.alert.labels }, `alert ${e.status}`);
    if (!this.queue) return;
    for (const p of webhookPayloads(events, { cluster: this.inv.name, externalURL: this.opts.externalUrl })) this.queue.push(p);
  }

  /** Refreshes now and every intervalMs; drift every driftEvery-th time. */
  start(intervalMs: number, driftEvery = 1): void {
    let n = 0;
    const tick = () => {
      const drift = !this.opts.noDrift && n++ % driftEvery === 0;
      void this.refresh({ drift }).finally(() => {
        if (this.timer !== undefined) this.timer = setTimeout(tick, intervalMs);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  /** Waits for queued webhooks (tests, shutdown). */
  async flush(): Promise<void> {
    await this.running;
    await this.queue?.idle();
  }

  async stop(): Promise<void> {
    const t = this.timer;
    this.timer = undefined;
    if (t) clearTimeout(t);
    await this.running?.catch(() => undefined);
    this.queue?.close();
  }
}

/** What changes when a file is rewritten, in place or by rename; "" when it cannot be read. */
function fileStamp(file: string): string {
  try {
    const st = statSync(file);
    return `${st.mtimeMs}:${st.size}:${st.ino}`;
  } catch {
    return "";
  }
}

/** The alerts that were firing when serve last ran; an unreadable file starts empty, with a warning. */
function loadBook(file: string, log: MonitorLog | undefined): Map<string, ActiveAlert> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return new Map();
  }
  const book = parseBook(text);
  if (!book) log?.warn({ file }, "alert state file unreadable; starting with no firing alerts");
  return book ?? new Map();
}
