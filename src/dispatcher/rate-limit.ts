// Client-side limits for Kubernetes API calls: a token bucket (QPS with a burst), and the
// delays between retries of 429 and 5xx answers (Retry-After honoured, exponential with jitter).

export class RateLimiter {
  private tokens: number;
  private last = performance.now();

  /** qps 0 lifts the limit. */
  constructor(private readonly qps: number, private readonly burst: number) {
    this.tokens = burst;
  }

  /** Resolves when the caller may send one request. Callers reserve slots in order. */
  take(): Promise<void> {
    if (this.qps <= 0) return Promise.resolve();
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.qps) / 1000);
    this.last = now;
    this.tokens -= 1;
    if (this.tokens >= 0) return Promise.resolve();
    const waitMs = (-this.tokens * 1000) / this.qps;
    return new Promise((resolve) => setTimeout(resolve, waitMs));
  }
}

const MAX_DELAY_MS = 10_000;

/** Delay before retry number `retry` (1, 2, ...): Retry-After when the server gave one. */
export function retryDelayMs(retry: number, retryAfterSeconds: number | undefined, random: () => number = Math.random): number {
  if (retryAfterSeconds !== undefined && Number.isFinite(retryAfterSeconds) && retryAfterSeconds >= 0) {
    return Math.min(MAX_DELAY_MS, retryAfterSeconds * 1000) + Math.round(random() * 100);
  }
  const exponential = Math.min(MAX_DELAY_MS, 200 * 2 ** (retry - 1));
  return Math.round(exponential * (0.5 + random()));
}
