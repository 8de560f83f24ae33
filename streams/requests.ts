import {
  createInbox,
  PermissionViolationError,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from "@nats-io/transport-node";

/** No reply came in time. */
export class RequestTimeoutError extends Error {
  constructor(subject: string, ms: number) {
    super(`no reply to ${subject} within ${ms} ms`);
    this.name = "RequestTimeoutError";
  }
}

/** Nothing listens on the subject (the server answered 503), or the connection closed first. */
export class NoReplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NoReplyError";
  }
}

const EMPTY = new Uint8Array(0);
const INBOX = /^_INBOX(?:_[A-Za-z0-9_-]+)?\.[^.\s*>]+(?:\.[^.\s*>]+)*$/;

/** True when `subject` is an inbox: `_INBOX.…` or a service account's `_INBOX_<name>.…`, no wildcards. */
export function isInbox(subject: string): boolean {
  return INBOX.test(subject);
}

type Pending = {
  subject: string;
  resolve: (m: Msg) => void;
  reject: (err: Error) => void;
  deadline: number;
  ms: number;
};
type Outgoing = { subject: string; data: Uint8Array; reply: string | undefined; headers: MsgHdrs | undefined };

/**
 * Request/reply on the hot paths (appends, direct gets, command replies) for one connection, with
 * less per-request work than the client library's: one wildcard inbox subscription for all
 * replies, one sweeping timer instead of a timer per request, no Error object built for a request
 * that succeeds (nats-core 3.x rejects an already-resolved promise with a new RequestError after
 * every success), and the messages of one event-loop turn written to the socket together
 * (nats-core writes once per microtask burst: a system call for every few messages).
 *
 * @example
 * const requests = new Requests(nc);
 * const ack = await requests.request("ev.msg.r1.m1", payload, { headers });
 */
export class Requests {
  private readonly prefix: string;
  private readonly pending = new Map<string, Pending>();
  private next = 0;
  private sub: Subscription | undefined;
  private sweeper: ReturnType<typeof setInterval> | undefined;
  private outgoing: Outgoing[] = [];
  private watching = false;
  private flushing = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 5000,
  ) {
    this.prefix = createInbox((nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
  }

  /** Sends `data` to `subject` and resolves with the first reply; rejects on a timeout or a 503. */
  request(subject: string, data: Uint8Array, options: { headers?: MsgHdrs; timeoutMs?: number } = {}): Promise<Msg> {
    try {
      this.listen();
    } catch (err) {
      // A closed connection refuses the subscription.
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const token = (this.next++).toString(36);
    const ms = options.timeoutMs ?? this.timeoutMs;
    return new Promise<Msg>((resolve, reject) => {
      this.pending.set(token, { subject, resolve, reject, deadline: performance.now() + ms, ms });
      this.send({ subject, data, reply: `${this.prefix}.${token}`, headers: options.headers });
    });
  }

  /**
   * Publishes `data` (a reply, say) with the other messages of this event-loop turn. A reply
   * subject is the requester's to choose and goes out with this connection's permissions: answer
   * only one that isInbox accepts.
   */
  publish(subject: string, data: Uint8Array, options: { reply?: string; headers?: MsgHdrs } = {}): void {
    this.send({ subject, data, reply: options.reply, headers: options.headers });
  }

  /**
   * The last message on `subject` in `stream` (a direct get, no body), or null when there is none;
   * rejects when the server answers with another error status.
   */
  async lastBySubject(stream: string, subject: string): Promise<Msg | null> {
    const m = await this.request(`$JS.API.DIRECT.GET.${stream}.${subject}`, EMPTY);
    const status = m.headers?.code ?? 0;
    if (status === 404) return null;
    if (status >= 400)
      throw new Error(`direct get of ${subject} in ${stream}: status ${status} ${m.headers?.description ?? ""}`);
    return m;
  }

  /** Writes what is queued, then waits until the server has read it (a round trip). */
  async flushed(): Promise<void> {
    this.flush();
    await this.nc.flush();
  }

  /** Requests waiting for a reply. */
  get waiting(): number {
    return this.pending.size;
  }

  /** Fails the requests still waiting and stops listening. */
  close(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.failAll(new NoReplyError("the requests were closed before a reply came"));
  }

  private send(m: Outgoing): void {
    this.outgoing.push(m);
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    const batch = this.outgoing;
    this.outgoing = [];
    this.flushing = false;
    for (const m of batch) {
      try {
        this.nc.publish(m.subject, m.data, { reply: m.reply, headers: m.headers });
      } catch (err) {
        // A closed connection or a bad subject: the request it carried fails now, not at its timeout.
        const token = m.reply?.startsWith(`${this.prefix}.`) ? m.reply.slice(this.prefix.length + 1) : undefined;
        const p = token === undefined ? undefined : this.pending.get(token);
        if (p !== undefined) {
          this.pending.delete(token!);
          p.reject(err instanceof Error ? err : new Error(String(err)));
        }
      }
    }
  }

  private listen(): void {
    if (this.sub !== undefined) return;
    this.sub = this.nc.subscribe(`${this.prefix}.*`, {
      callback: (err, m) => {
        if (err !== null) {
          this.failAll(err);
          return;
        }
        const token = m.subject.slice(this.prefix.length + 1);
        const p = this.pending.get(token);
        if (p === undefined) return;
        this.pending.delete(token);
        if (m.data.length === 0 && m.headers?.code === 503) p.reject(new NoReplyError(`no responders on ${p.subject}`));
        else p.resolve(m);
      },
    });
    const sub = this.sub;
    void sub.closed.then(() => {
      // close() (or a later subscription) took over already: nothing waits on this one.
      if (this.sub !== sub) return;
      this.sub = undefined;
      this.failAll(new NoReplyError("the connection closed before a reply came"));
    });
    if (!this.watching) {
      this.watching = true;
      void this.watchPermissions();
    }
    if (this.sweeper === undefined) {
      this.sweeper = setInterval(() => this.sweep(), Math.max(10, Math.min(250, this.timeoutMs / 4)));
      this.sweeper.unref();
    }
  }

  /**
   * Fails at once the requests whose subject the server refused to take from this connection (a
   * permissions violation), instead of at their timeout: a misconfigured account shows as such.
   */
  private async watchPermissions(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type !== "error" || !(s.error instanceof PermissionViolationError) || s.error.operation !== "publish")
        continue;
      const refused = s.error;
      for (const [token, p] of this.pending) {
        if (p.subject !== refused.subject) continue;
        this.pending.delete(token);
        p.reject(refused);
      }
    }
  }

  private sweep(): void {
    const now = performance.now();
    for (const [token, p] of this.pending) {
      if (p.deadline > now) continue;
      this.pending.delete(token);
      p.reject(new RequestTimeoutError(p.subject, p.ms));
    }
  }

  private failAll(err: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(err);
  }
}
