/**
 * Live subscribers for the `read` suite: user NATS connections spread over worker threads of the
 * bench process, so that one message fanned out to a thousand subscribers is not received one
 * connection after the other on a single event loop (which would add the client's own queue to
 * the tail). Times are `performance.timeOrigin + performance.now()`, which agree across the threads
 * of a process (checked by `clockCheck`).
 *
 * This file is both the main thread's handle (ListenerThreads) and the worker's code.
 */
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { userInboxPrefix } from "../auth/permissions.ts";
import { windowed } from "./lib.ts";

/** A user to connect: id, name and access token. */
type ListenerUser = { readonly name: string; readonly id: string; readonly token: string };

/** Now, in milliseconds since the epoch, comparable across the threads of this process. */
export const epochNow = (): number => performance.timeOrigin + performance.now();

/** What the main thread asks a worker; the answer carries the request's `id`. */
type Ask =
  | { type: "subscribe"; subjects: { local: number; subject: string }[] }
  | { type: "collect" }
  | { type: "ping" }
  | { type: "close" };
type Request = Ask & { id: number };
/** One received message: the subscriber (global index), the message id it carried, when. */
export type Receipt = { user: number; messageId: string; t: number };
type Answer = {
  id: number;
  error?: string;
  receipts?: { users: Int32Array; times: Float64Array; messageIds: string[] };
  t?: number;
};
type Note = { type: "connected" } | { type: "arrived"; n: number };

/** The worker's start: its share of the users (with their global indices) and the server. */
type WorkerData = {
  role: "natter-bench-listeners";
  url: string;
  users: ListenerUser[];
  globals: number[];
  concurrency: number;
};

/** Connects one user through the auth callout with their token, as a client does (their inbox prefix, no reconnects). */
export function connectUser(url: string, user: ListenerUser): Promise<NatsConnection> {
  return connect({
    servers: url,
    token: user.token,
    inboxPrefix: userInboxPrefix(user.id),
    maxReconnectAttempts: 0,
    noAsyncTraces: true,
    timeout: 20_000,
    name: user.name,
  });
}

/** The main thread's handle on the listener threads. */
export class ListenerThreads {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (a: Answer) => void; reject: (e: Error) => void }>();
  private readonly arrivedBy: number[];
  private closed = false;

  private constructor(private readonly workers: Worker[]) {
    this.arrivedBy = workers.map(() => 0);
  }

  /**
   * Starts `threads` workers and connects `users` (user i in thread i % threads), at most
   * `concurrency` connects under way in all; `onConnected` is called after each connect.
   */
  static async start(
    url: string,
    users: ListenerUser[],
    threads: number,
    concurrency: number,
    onConnected: () => void,
  ): Promise<ListenerThreads> {
    const entry = new URL(import.meta.url).href;
    const workers: Worker[] = [];
    const ready: Promise<void>[] = [];
    for (let w = 0; w < threads; w++) {
      const globals = users.map((_, i) => i).filter((i) => i % threads === w);
      const data: WorkerData = {
        role: "natter-bench-listeners",
        url,
        users: globals.map((i) => users[i]!),
        globals,
        concurrency: Math.max(1, Math.round(concurrency / threads)),
      };
      // Workers do not inherit tsx's loader: register it first, then load this file.
      const worker = new Worker(
        `import("tsx/esm/api").then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`,
        { eval: true, workerData: data },
      );
      workers.push(worker);
      let left = globals.length;
      ready.push(
        new Promise<void>((resolve, reject) => {
          if (left === 0) resolve();
          worker.on("error", reject);
          worker.on("message", (m: Note | Answer) => {
            if ("type" in m && m.type === "connected") {
              onConnected();
              if (--left === 0) resolve();
            }
          });
        }),
      );
    }
    const handle = new ListenerThreads(workers);
    workers.forEach((w, i) => handle.listen(w, i));
    try {
      await Promise.all(ready);
    } catch (err) {
      await handle.close();
      throw err;
    }
    return handle;
  }

  private listen(worker: Worker, index: number): void {
    worker.on("message", (m: Note | Answer) => {
      if ("type" in m) {
        if (m.type === "arrived") this.arrivedBy[index] = m.n;
        return;
      }
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.error !== undefined) p?.reject(new Error(`listener thread ${index}: ${m.error}`));
      else p?.resolve(m);
    });
    worker.on("error", (err) => {
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
  }

  private call(w: number, request: Ask): Promise<Answer> {
    const id = this.nextId++;
    return new Promise<Answer>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.workers[w]!.postMessage({ ...request, id });
    });
  }

  /** Subscribes user i to `subjectOf(i)` for each i < count, and waits until the server has every subscription. */
  async subscribe(count: number, subjectOf: (user: number) => string): Promise<void> {
    const threads = this.workers.length;
    this.arrivedBy.fill(0);
    await Promise.all(
      this.workers.map((_, w) => {
        const subjects: { local: number; subject: string }[] = [];
        for (let i = w, local = 0; i < count; i += threads, local++) subjects.push({ local, subject: subjectOf(i) });
        return this.call(w, { type: "subscribe", subjects });
      }),
    );
  }

  /** Messages received since the last subscribe, as last reported by the threads (every 100 ms). */
  arrived(): number {
    return this.arrivedBy.reduce((a, b) => a + b, 0);
  }

  /** Ends the subscriptions and hands over what they received. */
  async collect(): Promise<Receipt[]> {
    const out: Receipt[] = [];
    for (const a of await Promise.all(this.workers.map((_, w) => this.call(w, { type: "collect" })))) {
      const r = a.receipts!;
      for (let k = 0; k < r.messageIds.length; k++)
        out.push({ user: r.users[k]!, messageId: r.messageIds[k]!, t: r.times[k]! });
    }
    return out;
  }

  /** The largest difference, in ms, between a thread's clock and this one's, bounded by a round trip. */
  async clockCheck(): Promise<number> {
    let worst = 0;
    for (let w = 0; w < this.workers.length; w++) {
      for (let k = 0; k < 5; k++) {
        const t0 = epochNow();
        const { t } = await this.call(w, { type: "ping" });
        const t1 = epochNow();
        // The worker's reading must lie between the two of this thread; how far outside is the skew.
        worst = Math.max(worst, t0 - t!, t! - t1, 0);
      }
    }
    return worst;
  }

  /** Closes every connection and ends the threads. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.workers.map((_, w) => this.call(w, { type: "close" }).catch(() => undefined)));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** The worker: connects its users, then subscribes, collects and closes as asked. */
async function runWorker(data: WorkerData, port: NonNullable<typeof parentPort>): Promise<void> {
  const conns: NatsConnection[] = new Array(data.users.length);
  await windowed(data.users.length, data.concurrency, async (i) => {
    conns[i] = await connectUser(data.url, data.users[i]!);
    port.postMessage({ type: "connected" } satisfies Note);
  });
  let subs: Subscription[] = [];
  let users: number[] = [];
  let times: number[] = [];
  let bytes: Uint8Array[] = [];
  let reporter: NodeJS.Timeout | undefined;
  const decoder = new TextDecoder();
  port.on("message", (r: Request) => {
    const answer = (a: Omit<Answer, "id">, transfer: ArrayBuffer[] = []) =>
      port.postMessage({ ...a, id: r.id }, transfer);
    void (async () => {
      switch (r.type) {
        case "subscribe":
          users = [];
          times = [];
          bytes = [];
          subs = r.subjects.map(({ local, subject }) =>
            conns[local]!.subscribe(subject, {
              callback: (err, m) => {
                if (err) return;
                // Only note the moment and the bytes here: decoding waits for collect.
                times.push(epochNow());
                users.push(data.globals[local]!);
                bytes.push(m.data);
              },
            }),
          );
          await Promise.all(conns.map((nc) => nc.flush()));
          reporter = setInterval(() => port.postMessage({ type: "arrived", n: times.length } satisfies Note), 100);
          return answer({});
        case "collect": {
          clearInterval(reporter);
          for (const s of subs) s.unsubscribe();
          subs = [];
          const messageIds = bytes.map((b) => {
            const e = JSON.parse(decoder.decode(b)) as { type?: string; messageId?: string };
            return e.type === "MessagePosted" && e.messageId !== undefined ? e.messageId : "";
          });
          const receipts = { users: Int32Array.from(users), times: Float64Array.from(times), messageIds };
          return answer({ receipts }, [receipts.users.buffer as ArrayBuffer, receipts.times.buffer as ArrayBuffer]);
        }
        case "ping":
          return answer({ t: epochNow() });
        case "close":
          clearInterval(reporter);
          await Promise.all(conns.map((nc) => nc?.close().catch(() => undefined)));
          return answer({});
      }
    })().catch((err: unknown) => answer({ error: err instanceof Error ? err.message : String(err) }));
  });
}

if (!isMainThread && (workerData as WorkerData | undefined)?.role === "natter-bench-listeners") {
  runWorker(workerData as WorkerData, parentPort!).catch((err: unknown) => {
    throw err;
  });
}
