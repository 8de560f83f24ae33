/**
 * The `read` suite (issue 5): what clients of the read side get, on the read side as deployed
 * (bench/readSystem.ts: nats-server with the auth callout, natter's parts in child processes).
 *
 *  1. timeline pages over HTTP: a public room seeded with N messages through commands (with
 *     reactions, edits and thread replies), the projections caught up, then
 *     `GET /api/rooms/{roomId}/messages?limit=50&before=<random post>` with several users' bearer
 *     tokens at a steady rate, open loop (latency from each request's scheduled moment), over
 *     keep-alive connections;
 *  2. the baseline: the SQL statements the read API runs for such a page (recorded from its own
 *     timelinePage), straight on a pg Pool of the read API's size, at the same rate; the difference;
 *     (1b./2b.: both again at a lower rate, below saturation);
 *  3. live delivery to the subscribers of a public room (`live.room.<roomId>`): user connections
 *     signed in through the callout (held in worker threads), posts at a steady rate, receive time −
 *     command send time;
 *  4. the same for a private room's members on per-user delivery (`deliver.<uid>.room.<roomId>`).
 */
import { cpus, loadavg } from "node:os";
import {
  CpuGroups,
  fmt,
  ms,
  onInterrupt,
  parseOptions,
  say,
  UsageError,
  verdict,
  waitForQuietMachine,
  type LatencySummary,
  type Suite,
} from "./lib.ts";
import { connectListeners, measureDelivery, type DeliveryResult } from "./readLive.ts";
import { describePlan, pagesOverHttp, pagesOverSql, recordPagePlan, type PageResult } from "./readPages.ts";
import { command, seedPublicRoom } from "./readSeed.ts";
import { ReadSystem } from "./readSystem.ts";
import { liveSubjects } from "../domain/index.ts";

/** Targets of issue 5. */
const TARGET_PAGE_P99_MS = 10;
const TARGET_PAGE_RATE = 2000;
const TARGET_DELIVERY_P99_MS = 100;
const TARGET_SUBSCRIBERS = 1000;

const defaults = {
  /** Messages seeded into the public room. */
  messages: 10_000,
  /** Users who post the seed and read pages over HTTP. */
  users: 8,
  /** Commands in flight while seeding. */
  seedConcurrency: 64,
  /** Page requests a second, and seconds measured after the warm-up. */
  rate: 2000,
  duration: 15,
  warmup: 2,
  /** Messages per page. */
  limit: 50,
  /** Keep-alive HTTP connections at most. */
  sockets: 64,
  /** A lower rate at which pages over HTTP and the baseline are measured again, unsaturated (0: skip), and its seconds. */
  lowRate: 400,
  lowDuration: 10,
  /** User connections subscribed to the public room. */
  subscribers: 1000,
  /** Members of the private room (the first of the subscribers' users). */
  privateMembers: 200,
  /** Connects through the callout at once. */
  connectConcurrency: 32,
  /** Worker threads the subscribers' connections are spread over. */
  listenerThreads: 2,
  /** Posts a second in the delivery phases, and seconds of them. */
  liveRate: 10,
  liveDuration: 10,
  /** The PostgreSQL server (a database natter_bench_read_<random> is created on it and dropped after). */
  databaseUrl: process.env["DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/postgres",
  /** Wait (up to 15 min) until no other bench or vitest process runs. */
  waitQuiet: true,
  /** Write V8 CPU profiles of the parts (node --cpu-prof) into this folder. */
  cpuProf: "",
  /** The read API's timeline cache size (NATTER_READ_CACHE_ENTRIES); 0 turns it off. */
  cacheEntries: 50_000,
  /** Exit 1 when a target is missed. */
  strict: false,
};
type Options = typeof defaults;

const usage = `usage: npm run bench -- read [options]

On a private nats-server with the auth callout, natter's parts in child processes (auth, commands,
projections, live, read-api) and a fresh PostgreSQL database (natter_bench_read_<random>, dropped after):
  1. timeline pages over HTTP (GET /api/rooms/{id}/messages?limit=&before=, bearer tokens), open loop
                                                             target p99 <= ${TARGET_PAGE_P99_MS} ms at ${fmt(TARGET_PAGE_RATE)}/s
  2. the baseline: the read API's SQL for those pages on a pg Pool of the same size, same rate
  3. live delivery to the subscribers of a public room       target p99 <= ${TARGET_DELIVERY_P99_MS} ms to ${fmt(TARGET_SUBSCRIBERS)}
  4. live delivery to a private room's members (deliver.<uid>.room.<roomId>)

Options (defaults in brackets):
  --messages N            messages seeded into the public room [${fmt(defaults.messages)}]
  --users N               users who post the seed and read pages [${defaults.users}]
  --seed-concurrency N    commands in flight while seeding [${defaults.seedConcurrency}]
  --rate N                page requests/s [${fmt(defaults.rate)}]
  --duration S            seconds measured [${defaults.duration}], after --warmup S [${defaults.warmup}]
  --limit N               messages per page [${defaults.limit}]
  --sockets N             keep-alive HTTP connections at most [${defaults.sockets}]
  --low-rate N            also measure pages and baseline at this rate, for --low-duration S
                          [${defaults.lowRate}/s for ${defaults.lowDuration} s; 0 skips]
  --subscribers N         user connections on the public room [${fmt(defaults.subscribers)}]
  --private-members N     members of the private room [${defaults.privateMembers}]
  --connect-concurrency N connects through the callout at once [${defaults.connectConcurrency}]
  --listener-threads N    worker threads holding the subscribers' connections [${defaults.listenerThreads}]
  --live-rate N           posts/s in the delivery phases [${defaults.liveRate}]
  --live-duration S       seconds of posts in each delivery phase [${defaults.liveDuration}]
  --database-url URL      PostgreSQL server [DATABASE_URL or postgres://postgres@127.0.0.1:5432/postgres]
  --wait-quiet=false      do not wait for other bench/vitest processes to end first
  --cpu-prof DIR          V8 CPU profiles of the parts (node --cpu-prof) into DIR/<part>
  --cache-entries N       the read API's timeline cache (NATTER_READ_CACHE_ENTRIES) [${fmt(defaults.cacheEntries)}; 0: off,
                          every page from PostgreSQL]
  --strict                exit 1 when a target is missed

Progress goes to stderr, the figures to stdout.`;

/** The read API's timeline cache counters, from its /metrics. */
async function cacheCounts(baseUrl: string): Promise<{ hits: number; misses: number }> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const value = (name: string) =>
    Number(text.match(new RegExp(`^natter_timeline_cache_${name}_total (\\S+)$`, "m"))?.[1] ?? 0);
  return { hits: value("hits"), misses: value("misses") };
}

const line = (s: LatencySummary): string => `p50 ${ms(s.p50)}, p99 ${ms(s.p99)}, p99.9 ${ms(s.p999)}, max ${ms(s.max)}`;

export const readSuite: Suite = {
  about: "timeline pages over HTTP at 2,000/s vs the bare SQL, live delivery to 1,000 subscribers",
  usage,
  async run(args) {
    const o: Options = parseOptions(args, defaults);
    if (
      o.messages < o.limit * 2 ||
      o.users < 2 ||
      o.rate < 1 ||
      o.duration <= 0 ||
      o.sockets < 1 ||
      o.subscribers < 1 ||
      o.privateMembers < 1 ||
      o.privateMembers > Math.min(o.subscribers, 999) ||
      o.liveRate < 1 ||
      o.liveDuration <= 0 ||
      o.listenerThreads < 1
    ) {
      throw new UsageError(
        "--messages must be at least twice --limit; --users at least 2; --rate, --sockets, --subscribers, --live-rate, --listener-threads at least 1; --private-members from 1 to min(--subscribers, 999)",
      );
    }

    // Before each measured part: wait while another bench or test run is active (15 min in all at most).
    let waitBudgetMs = 15 * 60_000;
    const quietNotes: string[] = [];
    const whenQuiet = async (part: string): Promise<void> => {
      if (!o.waitQuiet) return;
      const q = await waitForQuietMachine(/bench|vitest/, 30_000, waitBudgetMs);
      waitBudgetMs = Math.max(0, waitBudgetMs - q.waitedMs);
      const waited = q.waitedMs > 1000 ? ` after waiting ${Math.round(q.waitedMs / 1000)} s` : "";
      quietNotes.push(
        `${part}: ${q.quiet ? `no other bench/vitest process${waited}` : `NOT quiet${waited} (${q.busy[0]})`}`,
      );
    };
    await whenQuiet("start");
    say(
      `machine: ${cpus().length} cores, load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}; ${quietNotes[0] ?? "other bench/vitest processes not checked (--wait-quiet=false)"}`,
    );

    const sys = new ReadSystem();
    const removeInterrupt = onInterrupt(() => sys.stop());
    try {
      console.error("starting nats-server, the token issuer, the database and natter's parts …");
      await sys.start({
        databaseUrl: o.databaseUrl,
        cacheEntries: o.cacheEntries,
        ...(o.cpuProf ? { cpuProfDir: o.cpuProf } : {}),
      });
      say(
        `nats-server ${sys.nats.version}, PostgreSQL ${sys.database.serverVersion} (database ${sys.database.name}), node ${process.version}; ` +
          `parts: ${[...sys.parts].map(([n, c]) => `${n} ${c.pid}`).join(", ")}; read API ${sys.baseUrl}`,
      );
      const cpu = new CpuGroups(sys.cpuGroups());
      const cpuLines: Record<string, string> = {};

      // Seed, let the projections catch up, and settle the tables' statistics (autovacuum would
      // otherwise analyze the fresh tables in the middle of a measurement).
      const users = await sys.users("reader-", o.users);
      const seeded = await seedPublicRoom(sys.gateway, users, o.messages, o.seedConcurrency);
      const lastSeq = await sys.caughtUp();
      await sys.pool.query("VACUUM ANALYZE");
      say(
        `seeded room ${seeded.roomId}: ${fmt(o.messages)} posts, ${fmt(seeded.reactions)} reactions, ${seeded.edits} edits, ${seeded.replies} thread replies; projections at ${fmt(lastSeq)}; VACUUM ANALYZE done`,
      );

      // The read API's statements for a page, recorded from its own code.
      const sample = seeded.postSeqs[Math.floor(seeded.postSeqs.length / 2)]!;
      const plan = await recordPagePlan(sys.pool, users[0]!, seeded.roomId, sample, o.limit);
      const sources = new Set(plan.flat().flatMap((s) => s.params.map((p) => p.from)));
      if (!sources.has("user") || !sources.has("room") || !sources.has("before"))
        throw new Error(
          `the recorded page plan does not use the caller, the room and before:\n${describePlan(plan).join("\n")}`,
        );
      say(`the read API's SQL for a page (${plan.flat().length} statements in ${plan.length} round trips):`);
      for (const l of describePlan(plan)) say(`  ${l}`);

      // 1. and 2. Pages over HTTP and the baseline, at the target rate; then both again at a rate the machine sustains.
      const load = { rate: o.rate, duration: o.duration, warmup: o.warmup, limit: o.limit };
      const pages = async (name: string, rate: number, duration: number): Promise<[PageResult, PageResult]> => {
        await whenQuiet(`${name} at ${fmt(rate)}/s`);
        const l = { ...load, rate, duration };
        const items = Math.round((duration + l.warmup) * rate);
        await cpu.start();
        const cacheBefore = await cacheCounts(sys.baseUrl);
        const http = await pagesOverHttp(sys.baseUrl, seeded.roomId, users, seeded.postSeqs, {
          ...l,
          sockets: o.sockets,
        });
        say(
          `  ${(cpuLines[`${name} HTTP pages at ${fmt(rate)}/s`] = (await cpu.report(items)).replace("per event", "per request"))}`,
        );
        const cacheAfter = await cacheCounts(sys.baseUrl);
        const hits = cacheAfter.hits - cacheBefore.hits;
        const misses = cacheAfter.misses - cacheBefore.misses;
        say(
          `  ${(cpuLines[`${name} timeline cache`] = o.cacheEntries === 0 ? "timeline cache off: every page from PostgreSQL" : `timeline cache (warm-up included): ${fmt(hits)} hits, ${fmt(misses)} misses (reads of PostgreSQL), ${(hits + misses > 0 ? (100 * hits) / (hits + misses) : 0).toFixed(1)} % from memory; access checks and windows counted apart`)}`,
        );
        await cpu.start();
        const sql = await pagesOverSql(sys.pool, plan, seeded.roomId, users, seeded.postSeqs, l);
        say(
          `  ${(cpuLines[`${name} baseline at ${fmt(rate)}/s`] = (await cpu.report(items)).replace("per event", "per page"))}`,
        );
        return [http, sql];
      };
      const [http, sql] = await pages("1./2.", o.rate, o.duration);
      const low = o.lowRate > 0 ? await pages("1b./2b.", o.lowRate, o.lowDuration) : undefined;

      // 3. and 4. Live delivery.
      const listenerUsers = await sys.users("listener-", o.subscribers);
      const poster = users[0]!;
      const privateRoom = (
        await command(sys.gateway, poster.id, "room.create", {
          name: "bench private",
          kind: "private",
          members: listenerUsers.slice(0, o.privateMembers).map((u) => u.id),
        })
      ).result["roomId"] as string;
      const listeners = await connectListeners(sys, listenerUsers, o.listenerThreads, o.connectConcurrency);
      const skew = await listeners.clockCheck();
      say(
        `listener threads: ${o.listenerThreads}, clocks agree with the main thread's within ${ms(skew)} (round trip bound)`,
      );
      const liveLoad = { rate: o.liveRate, duration: o.liveDuration, warmupPosts: 3, drainMs: 30_000 };
      await whenQuiet("3./4. live delivery");
      await cpu.start();
      const pub = await measureDelivery(
        "3. public room",
        sys,
        listeners,
        poster,
        seeded.roomId,
        o.subscribers,
        () => liveSubjects.room(seeded.roomId),
        liveLoad,
      );
      say(`  ${(cpuLines["3. public room"] = await cpu.report())}`);
      await cpu.start();
      const priv = await measureDelivery(
        "4. private room",
        sys,
        listeners,
        poster,
        privateRoom,
        o.privateMembers,
        (i) => liveSubjects.member(listenerUsers[i]!.id, privateRoom),
        liveLoad,
      );
      say(`  ${(cpuLines["4. private room"] = await cpu.report())}`);
      await listeners.close();

      const lines = report(o, http, sql, low, pub, priv);
      console.log("");
      if (CpuGroups.worstOthers > 0.15) {
        console.log(
          `WARNING: other processes used up to ${Math.round(CpuGroups.worstOthers * 100)}% of one core during a measured phase (${cpus().length} cores): these figures are disturbed.`,
        );
      }
      console.log(
        `results (nats-server ${sys.nats.version}; PostgreSQL ${sys.database.serverVersion}; node ${process.version}; ${cpus().length} cores; load average now ${loadavg()[0]!.toFixed(2)})`,
      );
      console.log(
        `machine: other processes used at most ${Math.round(CpuGroups.worstOthers * 100)}% of one core in a measured phase; bench/vitest check before each part: ${quietNotes.join("; ") || "not made (--wait-quiet=false)"}`,
      );
      for (const l of lines.text) console.log(l);
      console.log("cpu per phase (share of one core):");
      for (const [k, v] of Object.entries(cpuLines)) console.log(`  ${k}: ${v}`);
      return o.strict && !lines.allPass ? 1 : 0;
    } finally {
      console.error("stopping the parts, nats-server and the issuer; dropping the database …");
      await sys.stop();
      removeInterrupt();
    }
  },
};

/** The result lines, and whether every target passed. */
function report(
  o: Options,
  http: PageResult,
  sql: PageResult,
  low: [PageResult, PageResult] | undefined,
  pub: DeliveryResult,
  priv: DeliveryResult,
): { text: string[]; allPass: boolean } {
  const pageOk =
    http.latency.p99 <= TARGET_PAGE_P99_MS &&
    o.rate >= TARGET_PAGE_RATE &&
    http.errors === 0 &&
    http.achieved >= 0.95 * o.rate;
  const deliveryOk = (r: DeliveryResult, n: number) =>
    r.latency.p99 <= TARGET_DELIVERY_P99_MS && r.received === r.expected && r.duplicates === 0 && n >= 1;
  const pubOk = deliveryOk(pub, o.subscribers) && o.subscribers >= TARGET_SUBSCRIBERS;
  const privOk = deliveryOk(priv, o.privateMembers);
  const x = (a: number, b: number) => `${(a / b).toFixed(1)}x`;
  const diff = (a: number, b: number) => `${a - b >= 0 ? "+" : ""}${(a - b).toFixed(2)} ms`;
  const delivery = (name: string, r: DeliveryResult, ok: boolean, target: string) => [
    `  ${name}: ${r.posts} posts at ${o.liveRate}/s, deliveries ${fmt(r.received)}/${fmt(r.expected)} (${r.received === r.expected ? "all" : `${fmt(r.expected - r.received)} MISSING`}${r.duplicates ? `, ${r.duplicates} duplicates` : ""}), ` +
      `send -> receive p50 ${ms(r.latency.p50)}, p99 ${ms(r.latency.p99)}, max ${ms(r.latency.max)}   ${target}   ${verdict(ok)}`,
    `     per post: send -> reply p50 ${ms(r.reply.p50)}, p99 ${ms(r.reply.p99)}; send -> first subscriber p50 ${ms(r.firstDelivery.p50)}, max ${ms(r.firstDelivery.max)}; ` +
      `send -> last subscriber p50 ${ms(r.lastDelivery.p50)}, max ${ms(r.lastDelivery.max)}; main thread's event-loop delay p99 ${ms(r.loopDelayP99)}, max ${ms(r.loopDelayMax)}`,
  ];
  const text = [
    `  1. timeline page over HTTP at ${fmt(o.rate)}/s open loop (${fmt(http.latency.count)} measured, achieved ${fmt(http.achieved)}/s, ${fmt(http.meanBytes / 1024, 1)} KiB a page, errors ${fmt(http.errors)}${http.errors ? ` e.g. ${http.firstError}` : ""}): ` +
      `${line(http.latency)}   target p99 <= ${TARGET_PAGE_P99_MS} ms at ${fmt(TARGET_PAGE_RATE)}/s   ${verdict(pageOk)}`,
    `  2. baseline, the same SQL on a pg Pool at ${fmt(o.rate)}/s (${fmt(sql.latency.count)} measured, achieved ${fmt(sql.achieved)}/s, errors ${fmt(sql.errors)}${sql.errors ? ` e.g. ${sql.firstError}` : ""}): ${line(sql.latency)}`,
    `     HTTP - baseline: p50 ${diff(http.latency.p50, sql.latency.p50)} (${x(http.latency.p50, sql.latency.p50)}), p99 ${diff(http.latency.p99, sql.latency.p99)} (${x(http.latency.p99, sql.latency.p99)}), ` +
      `p99.9 ${diff(http.latency.p999, sql.latency.p999)}; client sends at most ${ms(http.maxLateMs)} (HTTP) and ${ms(sql.maxLateMs)} (SQL) late`,
    ...(low === undefined
      ? []
      : [
          `  1b./2b. unsaturated, at ${fmt(o.lowRate)}/s: HTTP (achieved ${fmt(low[0].achieved)}/s, errors ${fmt(low[0].errors)}) ${line(low[0].latency)}`,
          `          baseline (achieved ${fmt(low[1].achieved)}/s, errors ${fmt(low[1].errors)}) ${line(low[1].latency)}`,
          `          HTTP - baseline: p50 ${diff(low[0].latency.p50, low[1].latency.p50)} (${x(low[0].latency.p50, low[1].latency.p50)}), p99 ${diff(low[0].latency.p99, low[1].latency.p99)} (${x(low[0].latency.p99, low[1].latency.p99)})`,
        ]),
    ...delivery(
      `3. live.room to ${fmt(o.subscribers)} subscribers`,
      pub,
      pubOk,
      `target p99 <= ${TARGET_DELIVERY_P99_MS} ms to ${fmt(TARGET_SUBSCRIBERS)}, all delivered`,
    ),
    ...delivery(
      `4. deliver.<uid>.room to ${fmt(o.privateMembers)} private-room members`,
      priv,
      privOk,
      `target p99 <= ${TARGET_DELIVERY_P99_MS} ms, all delivered`,
    ),
  ];
  return { text, allPass: pageOk && pubOk && privOk };
}
