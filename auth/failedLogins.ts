import { RateLimiter, type RateLimit } from "../domain/index.ts";

/** The limits on wrong passwords: per user name and per client address, each a token bucket that only failures spend. */
export type FailedLoginLimits = {
  /** Default: 30, then one more every 30 s. */
  perUser?: RateLimit;
  /** Default: 60, then one more every 15 s. */
  perAddress?: RateLimit;
};

/**
 * Guards a password check against guessing: once a user name or an address has used up its
 * failures, further attempts are refused without checking the password until a token is back.
 * A right password spends nothing.
 *
 * @example
 * const wait = guard.blocked("alice", "127.0.0.1", Date.now()); // 0: check it
 * if (!ok) guard.failed("alice", "127.0.0.1", Date.now());
 */
export class FailedLogins {
  private readonly users: RateLimiter;
  private readonly addresses: RateLimiter;

  constructor(limits: FailedLoginLimits = {}) {
    this.users = new RateLimiter(limits.perUser ?? { burst: 30, perSecond: 1 / 30 });
    this.addresses = new RateLimiter(limits.perAddress ?? { burst: 60, perSecond: 1 / 15 });
  }

  /** Milliseconds until an attempt for `username` from `address` may be checked; 0: now. */
  blocked(username: string, address: string, now: number): number {
    return Math.max(this.users.wait(userKey(username), now), this.addresses.wait(address, now));
  }

  /** Counts a wrong password (or an unknown user) against both. */
  failed(username: string, address: string, now: number): void {
    this.users.take(userKey(username), now);
    this.addresses.take(address, now);
  }
}

const userKey = (username: string): string => username.slice(0, 64).toLowerCase();
