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

export type DeliveryResult = { ok: true; attempts: number } | { ok: false; attempts: number; error: string };

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
        return { ok: false, attempts: attempt - 1, error: `stopped: ${error}` };
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
      if (!retryableStatus(res.statusCode)) return { ok: false, attempts: attempt, error };
    } catch (err) {
      const e = err as { code?: string; message?: string };
      error = e.code ? `${e.code} (${e.message ?? ""})` : String(e.message ?? err);
    }
    opts.log?.warn({ url, attempt, error }, "webhook delivery failed");
  }
  return { ok: false, attempts: policy.attempts, error };
}

/** A FIFO so payloads reach the receiver in the order the transitions happened. */
export class WebhookQueue {
  private chain: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();
  constructor(
    private readonly url: string,
    private readonly opts: { retry?: RetryPolicy; log?: DeliveryLog; onResult?: (r: DeliveryResult, p: WebhookPayload) => void } = {},
  ) {}

  push(payload: WebhookPayload): void {
    this.chain = this.chain.then(async () => {
      if (this.abort.signal.aborted) return;
      const r = await deliverWebhook(this.url, payload, { retry: this.opts.retry, log: this.opts.log, signal: this.abort.signal });
      this.opts.onResult?.(r, payload);
    });
  }

  /** Resolves when everything queued so far was delivered or given up. */
  idle(): Promise<void> {
    return this.chain;
  }

  close(): void {
    this.abort.abort();
  }
}
