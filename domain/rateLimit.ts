/** A token bucket's size and refill rate; `off` disables limiting. */
export type RateLimit = { burst: number; perSecond: number } | "off";

/**
 * Parses `NATTER_RATE_LIMIT`: `<burst>/<per second>` (e.g. `30/10`) or `off`. Throws an Error
 * that says the accepted forms.
 */
export function parseRateLimit(text: string): RateLimit {
  const t = text.trim();
  if (t === "off") return "off";
  const m = /^(\d+)\/(\d+(?:\.\d+)?)$/.exec(t);
  if (m === null || Number(m[1]) < 1 || Number(m[2]) <= 0) {
    throw new Error(`"${text}" is not a rate limit: write <burst>/<per second> such as 30/10, or off`);
  }
  return { burst: Number(m[1]), perSecond: Number(m[2]) };
}

type Bucket = { tokens: number; at: number };

/**
 * Per-key token buckets. `take` spends one token and answers 0, or, when the bucket is empty,
 * the milliseconds until a token is back. Full buckets are forgotten, so memory follows the
 * number of keys active in the last `burst / perSecond` seconds.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private sweptAt = 0;

  constructor(private readonly limit: RateLimit) {}

  /** Spends a token of `key`; 0 when allowed, else the wait in milliseconds. */
  take(key: string, now: number): number {
    if (this.limit === "off") return 0;
    const { burst, perSecond } = this.limit;
    this.sweep(now);
    const b = this.buckets.get(key) ?? { tokens: burst, at: now };
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * perSecond);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      this.buckets.set(key, b);
      return 0;
    }
    this.buckets.set(key, b);
    return Math.ceil(((1 - b.tokens) / perSecond) * 1000);
  }

  /** The milliseconds until `key` has a token, without spending one; 0 when it has one now. */
  wait(key: string, now: number): number {
    if (this.limit === "off") return 0;
    const b = this.buckets.get(key);
    if (b === undefined) return 0;
    const tokens = Math.min(this.limit.burst, b.tokens + ((now - b.at) / 1000) * this.limit.perSecond);
    return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) / this.limit.perSecond) * 1000);
  }

  private sweep(now: number): void {
    if (this.limit === "off" || now - this.sweptAt < 10_000) return;
    this.sweptAt = now;
    const refill = (this.limit.burst / this.limit.perSecond) * 1000;
    for (const [k, b] of this.buckets) if (now - b.at >= refill) this.buckets.delete(k);
  }
}
