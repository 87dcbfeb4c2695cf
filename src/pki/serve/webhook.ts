import { setTimeout as sleep } from "node:timers/promises";
import { request } from "undici";
import type { WebhookPayload } from "./alerts.js";

/**
 * Delivers webhook payloads to an Alertmanager-compatible receiver, one at a
 * time and in order, retrying failures with capped exponential backoff.
 */

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  baseMs: number;
  capMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 8, baseMs: 500, capMs: 30_000 };

/**
 * Delay before retry number `retry` (1 = after the first failure): base·2^(retry-1),
 * capped, then drawn uniformly from [delay/2, delay] so many senders that failed
 * together do not retry together. `random` is injectable for tests.
 */
export function retryDelayMs(retry: number, policy: Pick<RetryPolicy, "baseMs" | "capMs">, random: () => number = Math.random): number {
  const full = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, retry - 1));
  return Math.round(full / 2 + (full / 2) * random());
}

/** Worth retrying: the receiver is down, overloaded or failing; a 4xx other than 408/429 will fail again. */
export function retryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** `retryable`: worth sending again later (the receiver was down or failing), not refused (4xx). */
export type DeliveryResult = { ok: true; attempts: number } | { ok: false; attempts: number; error: string; retryable: boolean };

export interface DeliveryLog {
  warn(obj: object, msg: string): void;
}

export async function deliverWebhook(
  url: string,
  payload: WebhookPayload,
  opts: { retry?: RetryPolicy; timeoutMs?: number; log?: DeliveryLog; signal?: AbortSignal } = {},
): Promise<DeliveryResult> {
  const policy = opts.retry ?? DEFAULT_RETRY;
  const body = JSON.stringify(payload);
  let error = "";
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    if (attempt > 1) {
      try {
        await sleep(retryDelayMs(attempt - 1, policy), undefined, { signal: opts.signal });
      } catch {
        return { ok: false, attempts: attempt - 1, error: `stopped: ${error}`, retryable: true };
      }
    }
    try {
      const res = await request(url, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": "hak-pki-serve" },
        body,
        headersTimeout: opts.timeoutMs ?? 10_000,
        bodyTimeout: opts.timeoutMs ?? 10_000,
        signal: opts.signal,
      });
      await res.body.dump();
      if (res.statusCode < 300) return { ok: true, attempts: attempt };
      error = `HTTP ${res.statusCode}`;
      if (!retryableStatus(res.statusCode)) return { ok: false, attempts: attempt, error, retryable: false };
    } catch (err) {
      const e = err as { code?: string; message?: string };
      error = e.code ? `${e.code} (${e.message ?? ""})` : String(e.message ?? err);
    }
    opts.log?.warn({ url, attempt, error }, "webhook delivery failed");
  }
  return { ok: false, attempts: policy.attempts, error, retryable: true };
}

/** Payloads kept for a receiver that stays down; beyond this the oldest are dropped (and logged). */
export const MAX_PARKED = 500;

/**
 * A FIFO so payloads reach the receiver in the order the transitions happened.
 * A payload that still fails after all its retries is parked, not dropped,
 * and so is everything after it (order holds); retryParked(), called on every
 * refresh, sends them again. A receiver that refuses a payload (4xx) does not
 * get it again.
 */
export class WebhookQueue {
  private chain: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();
  private parked: WebhookPayload[] = [];
  constructor(
    private readonly url: string,
    private readonly opts: { retry?: RetryPolicy; log?: DeliveryLog; onResult?: (r: DeliveryResult, p: WebhookPayload) => void } = {},
  ) {}

  /** Payloads waiting for the receiver to come back. */
  get parkedCount(): number {
    return this.parked.length;
  }

  push(payload: WebhookPayload): void {
    this.chain = this.chain.then(async () => {
      if (this.parked.length > 0) this.park([payload]);
      else await this.sendInOrder([payload]);
    });
  }

  /** Sends the parked payloads again, oldest first. */
  retryParked(): void {
    this.chain = this.chain.then(() => this.sendInOrder(this.parked.splice(0)));
  }

  private async sendInOrder(batch: WebhookPayload[]): Promise<void> {
    for (const [i, p] of batch.entries()) {
      if (this.abort.signal.aborted) return;
      const r = await deliverWebhook(this.url, p, { retry: this.opts.retry, log: this.opts.log, signal: this.abort.signal });
      this.opts.onResult?.(r, p);
      if (!r.ok && r.retryable) {
        this.park(batch.slice(i));
        return;
      }
    }
  }

  private park(payloads: WebhookPayload[]): void {
    this.parked.push(...payloads);
    const over = this.parked.length - MAX_PARKED;
    if (over > 0) {
      this.parked.splice(0, over);
      this.opts.log?.warn({ url: this.url, dropped: over }, "webhook receiver unreachable for long: oldest payloads dropped");
    }
  }

  /** Resolves when everything queued so far was delivered, refused or parked. */
  idle(): Promise<void> {
    return this.chain;
  }

  close(): void {
    this.abort.abort();
  }
}
