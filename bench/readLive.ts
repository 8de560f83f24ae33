/**
 * Live delivery for the `read` suite: user connections (in listener threads) subscribed to a room's
 * live subjects, messages posted into the room at a steady rate through commands, and the time from
 * each command's send to each subscriber receiving the message (one process, one clock).
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fastUlid, fmt, openLoop, Phase, summarize, type LatencySummary } from "./lib.ts";
import { epochNow, ListenerThreads } from "./liveListeners.ts";
import { bodyOf, command } from "./readSeed.ts";
import type { BenchUser, ReadSystem } from "./readSystem.ts";

/** Connects `users` through the auth callout in `threads` listener threads, `concurrency` at a time in all; progress on stderr. */
export async function connectListeners(
  sys: ReadSystem,
  users: BenchUser[],
  threads: number,
  concurrency: number,
): Promise<ListenerThreads> {
  const phase = new Phase(
    `connecting ${fmt(users.length)} users through the auth callout (${concurrency} at once, ${threads} threads)`,
    users.length,
    2000,
    process.stderr,
  );
  const listeners = await ListenerThreads.start(sys.nats.url, users, threads, concurrency, () => phase.done++);
  sys.defer(() => listeners.close());
  phase.end();
  return listeners;
}

/** How a delivery phase posts: a rate, seconds of measured posts after unmeasured warm-up posts, and how long to wait for stragglers. */
export type DeliveryLoad = { rate: number; duration: number; warmupPosts: number; drainMs: number };

/** What a delivery phase measured; every latency from the command's send. */
export type DeliveryResult = {
  /** Each delivery of each measured post. */
  latency: LatencySummary;
  /** Per measured post: the reply, the first subscriber's delivery and the last one's. */
  reply: LatencySummary;
  firstDelivery: LatencySummary;
  lastDelivery: LatencySummary;
  posts: number;
  expected: number;
  received: number;
  duplicates: number;
  /** The main thread's event-loop delay during the phase (it sends the posts). */
  loopDelayP99: number;
  loopDelayMax: number;
};

/**
 * Subscribes listener i to `subjectOf(i)` for i < `subscribers`, posts `load.warmupPosts` and then
 * `rate × duration` messages into `roomId` as `poster` (open loop), and collects the deliveries of
 * the measured posts until each subscriber has each, or `drainMs` after the last reply.
 */
export async function measureDelivery(
  label: string,
  sys: ReadSystem,
  listeners: ListenerThreads,
  poster: BenchUser,
  roomId: string,
  subscribers: number,
  subjectOf: (i: number) => string,
  load: DeliveryLoad,
): Promise<DeliveryResult> {
  await listeners.subscribe(subscribers, subjectOf);
  const measured = Math.round(load.rate * load.duration);
  const total = load.warmupPosts + measured;
  const posts = new Map<string, { k: number; sent: number; replied: number }>();
  const loop = monitorEventLoopDelay({ resolution: 1 });
  const posting = new Phase(
    `${label}: msg.post at ${load.rate}/s (${load.warmupPosts} warm-up + ${measured}) to ${fmt(subscribers)} subscribers`,
    total,
    2000,
    process.stderr,
  );
  loop.enable();
  await openLoop(load.rate, total, async (k) => {
    const messageId = fastUlid();
    const post = { k, sent: epochNow(), replied: 0 };
    posts.set(messageId, post);
    await command(sys.gateway, poster.id, "msg.post", { roomId, messageId, body: bodyOf(k) });
    post.replied = epochNow();
    posting.done++;
  });
  loop.disable();
  posting.end();

  // Wait for every post (warm-up ones too) at every subscriber, or the deadline.
  const expected = measured * subscribers;
  const waiting = new Phase(`${label}: deliveries`, expected, 2000, process.stderr);
  const deadline = performance.now() + load.drainMs;
  while (listeners.arrived() < total * subscribers && performance.now() < deadline) {
    waiting.done = Math.min(expected, listeners.arrived());
    await new Promise((r) => setTimeout(r, 50));
  }
  const receipts = await listeners.collect();

  const latencies: number[] = [];
  const seen = new Set<string>();
  const first = new Map<string, number>();
  const last = new Map<string, number>();
  let duplicates = 0;
  for (const r of receipts) {
    const post = posts.get(r.messageId);
    if (post === undefined || post.k < load.warmupPosts) continue;
    const key = `${r.user}/${r.messageId}`;
    if (seen.has(key)) {
      duplicates++;
      continue;
    }
    seen.add(key);
    const l = r.t - post.sent;
    latencies.push(l);
    first.set(r.messageId, Math.min(first.get(r.messageId) ?? Number.POSITIVE_INFINITY, l));
    last.set(r.messageId, Math.max(last.get(r.messageId) ?? 0, l));
  }
  waiting.done = latencies.length;
  waiting.end(latencies.length < expected ? `${fmt(expected - latencies.length)} missing` : "all in");
  const measuredPosts = [...posts.values()].filter((p) => p.k >= load.warmupPosts);
  return {
    latency: summarize(latencies),
    reply: summarize(measuredPosts.map((p) => p.replied - p.sent)),
    firstDelivery: summarize([...first.values()]),
    lastDelivery: summarize([...last.values()]),
    posts: measuredPosts.length,
    expected,
    received: latencies.length,
    duplicates,
    loopDelayP99: loop.percentile(99) / 1e6,
    loopDelayMax: loop.max / 1e6,
  };
}
