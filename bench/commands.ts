/**
 * The `commands` suite (issues 2 and 15): how close natter's command path comes to raw JetStream
 * and to the bound of its architecture.
 *
 *  1. raw: windowed JetStream publishes with an expected last subject sequence over 1,000 subjects,
 *     on a stream configured like CHAT_EVENTS (stream BENCH_RAW, subjects `raw.>`, on the same
 *     server), with the same headers, payload size and `Nats-Msg-Id` as a MessagePosted event;
 *  2. bare: the bound of the architecture, a bare post service (bench/barePost.ts) that answers
 *     `bare.<user>.msg.post` with ONE append guarded by the room's last sequence
 *     (`Nats-Expected-Last-Subject-Sequence-Subject`) and nothing else, driven exactly as (3);
 *  3. commands: `msg.post` end to end (request/reply through the command service) by 64 senders
 *     over 1,000 rooms, a fixed count after a warm-up;
 *  4. the ratios (3)/(2) (target of issue 15) and (3)/(1) (issue 2's);
 *  5. latency at a steady rate (open loop: each request is scheduled on a fixed grid and timed from
 *     its scheduled moment, so a stall is charged to every request it delays: no coordinated
 *     omission);
 *  6. the server's operations per post in (2) and (3), from the server's own counters (its
 *     monitoring endpoint: bench/lib.ts readServerCounters).
 *
 * The command service runs in a child process (`node --import tsx app/service.ts commands`, which is
 * what `tsx app/service.ts commands` runs) so that on a 2-core machine the bench client and the service
 * do not share one event loop; `--in-process` runs it in the bench process instead. The bare
 * service runs where the command service runs, unless `--bare-in-process` puts it in the bench
 * process.
 */
import { cpus, loadavg } from "node:os";
import { resolve } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { startCommandService, type CommandReply, type CommandService } from "../commands/index.ts";
import { connectNats } from "../streams/connect.ts";
import { EVENT_STREAM } from "../streams/subjects.ts";
import { eventStreamConfig } from "../streams/setup.ts";
import { BARE_STREAM, eventHeaders, startBarePostService } from "./barePost.ts";
import {
  CpuMeter,
  fastUlid,
  fmt,
  formatServerOps,
  ms,
  onInterrupt,
  openLoop,
  parseOptions,
  percentile,
  Phase,
  readServerCounters,
  say,
  serverOpsPerItem,
  startChild,
  startTempNats,
  summarize,
  verdict,
  windowed,
  type ServerOpsPerItem,
  type Suite,
  type TempNats,
} from "./lib.ts";

/** Targets of issue 15: natter's msg.post at least this share of the bare bound; p99 at 1,000/s. */
const TARGET_BARE_RATIO = 0.7;
const TARGET_P99_MS = 5;
/** Issue 2's target for msg.post against raw appends, still printed. */
const ISSUE2_RAW_RATIO = 0.5;

const defaults = {
  /** Raw publishes measured, after rawWarmup. */
  rawEvents: 150_000,
  rawWarmup: 10_000,
  /** Rounds the measured raw publishes are split into; the figure is the median round's rate. */
  rawRounds: 3,
  /** Raw publishes in flight. */
  window: 256,
  /** Subjects (aggregates) the raw publishes spread over. */
  subjects: 1000,
  /** Rooms the posts spread over. */
  rooms: 1000,
  /** Concurrent senders, each a user with one request in flight. */
  senders: 64,
  /** Senders that join each room (each sender joins rooms × membersPerRoom / senders rooms). */
  membersPerRoom: 4,
  /** msg.post commands measured, after warmup. */
  posts: 20_000,
  warmup: 2_000,
  /** Commands a second in the latency phase. */
  rate: 1000,
  /** Seconds measured in the latency phase, after latencyWarmup seconds at the same rate. */
  duration: 10,
  latencyWarmup: 1,
  /** Run the command service (and the bare service) in the bench process instead of a child process. */
  inProcess: false,
  /** Run the bare post service in the bench process even when the command service is a child. */
  bareInProcess: false,
  /** Skip the bare bound (phase 2). */
  noBare: false,
  /** Write a V8 CPU profile of the child service into this folder (node --cpu-prof). */
  cpuProf: undefined as string | undefined,
  /** Exit 1 when a target is missed. */
  strict: false,
};
type Options = typeof defaults;

const usage = `usage: npm run bench -- commands [options]

Measures, on one private nats-server started in a temporary folder (with its monitoring port):
  1. raw JetStream appends (expected last subject sequence, windowed) on a CHAT_EVENTS-like stream
  2. the bare bound: posts/s through a bare service (bench/barePost.ts) that answers
     bare.<user>.msg.post with ONE append to bev.msg.<room>.<message> guarded by the room
     (Nats-Expected-Last-Subject-Sequence of bev.room.<room>, with
     Nats-Expected-Last-Subject-Sequence-Subject), a Nats-Msg-Id, natter's headers and a
     MessagePosted-sized payload, and nothing else (the rooms' sequences in a Map); same senders,
     rooms and counts as (3); it runs where the command service runs (a child process unless
     --in-process) on a connection of its own, and is stopped before (3)
  3. msg.post commands/s end to end through the command service
  4. natter/bare, (3)/(2)                                  target >= ${TARGET_BARE_RATIO}
     natter/raw, (3)/(1)                                   (issue 2's target was >= ${ISSUE2_RAW_RATIO})
  5. command latency p50/p99 at a steady rate (open loop)  target p99 <= ${TARGET_P99_MS} ms at 1,000/s
  6. server operations per post in (2) and (3), from the server's own counters read over its
     monitoring endpoint before and after each measured phase: appends offered to the event
     stream (messages its subscription on its subjects took, refused ones too) and stored (its
     message count), direct gets (requests to $JS.API.DIRECT.GET.<stream>[.>]), KV reads (direct
     gets of KV_* streams) and KV writes (messages to $KV.<bucket>.>), other JetStream API requests
     (/jsz api.total), and all messages in and out (/varz in_msgs, out_msgs).
     target (issue 15): 1 append, no read, no KV write; the bare line must show exactly that
     (it validates the counting)

Options (defaults in brackets):
  --raw-events N        raw publishes measured [${fmt(defaults.rawEvents)}]
  --raw-warmup N        raw publishes before measuring [${fmt(defaults.rawWarmup)}]
  --raw-rounds N        rounds the measured raw publishes are split into; the median counts [${defaults.rawRounds}]
  --window N            raw publishes in flight [${defaults.window}]
  --subjects N          subjects the raw publishes spread over [${fmt(defaults.subjects)}]
  --rooms N             rooms the posts spread over [${fmt(defaults.rooms)}]
  --senders N           concurrent senders (users), one request in flight each [${defaults.senders}]
  --members-per-room N  senders joined to each room [${defaults.membersPerRoom}]
  --posts N             msg.post commands measured [${fmt(defaults.posts)}]
  --warmup N            msg.post commands before measuring [${fmt(defaults.warmup)}]
  --rate N              commands/s in the latency phase [${fmt(defaults.rate)}]
  --duration S          seconds measured in the latency phase [${defaults.duration}]
  --latency-warmup S    seconds at the rate before measuring [${defaults.latencyWarmup}]
  --in-process          run the command service and the bare service in the bench process, not child processes
  --bare-in-process     run the bare service in the bench process (the command service stays a child)
  --no-bare             skip the bare bound (2)
  --cpu-prof DIR        write a CPU profile of the child service (node --cpu-prof) into DIR
  --strict              exit 1 when a target is missed`;

/** A body of typical length for a chat message. */
function postBody(i: number): string {
  return `benchmark message ${i}: the quick brown fox jumps over the lazy dog`;
}

/** The command service under test, in a child process or in this one. */
type ServiceUnderTest = { pid: number | undefined; describe: string; stop(): Promise<void> };

async function startChildService(url: string, cpuProfDir: string | undefined): Promise<ServiceUnderTest> {
  const child = startChild(
    "service",
    ["app/service.ts", "commands"],
    { NATS_URL: url, NATTER_RATE_LIMIT: "off", LOG_LEVEL: "warn" },
    cpuProfDir,
  );
  return {
    pid: child.pid,
    describe: `child process (node --import tsx app/service.ts commands, pid ${child.pid})${cpuProfDir ? `, CPU profile into ${resolve(cpuProfDir, "service")}` : ""}`,
    stop: () => child.stop(),
  };
}

async function startInProcessService(url: string): Promise<ServiceUnderTest> {
  const nc = await connectNats(url, { name: "natter-commands-bench" });
  const service: CommandService = await startCommandService(nc, { log: pino({ level: "silent" }), rateLimit: "off" });
  return {
    pid: undefined,
    describe: "in the bench process (its own connection)",
    async stop() {
      await service.drain();
      await nc.close();
    },
  };
}

/** Waits until a command service answers on `cmd.>` (an invalid command: nothing is appended). */
async function waitForService(nc: NatsConnection, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      await nc.request("cmd.bench-probe.room.join", "{}", { timeout: 1000 });
      return;
    } catch (err) {
      if (Date.now() > until)
        throw new Error(`the command service did not answer within ${timeoutMs / 1000} s: ${String(err)}`, {
          cause: err,
        });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Sends one command (to natter's `cmd.`, or the bare service's `bare.`) and parses the reply. */
async function send(
  nc: NatsConnection,
  userId: string,
  action: string,
  body: Record<string, unknown>,
  prefix = "cmd",
): Promise<CommandReply> {
  const m = await nc.request(`${prefix}.${userId}.${action}`, JSON.stringify({ commandId: fastUlid(), ...body }), {
    timeout: 10_000,
  });
  return m.json<CommandReply>();
}

/** The bare post service (bench/barePost.ts) in a child process, as natter's service runs. */
async function startBareChild(url: string): Promise<ServiceUnderTest> {
  const child = startChild("bare", ["bench/barePost.ts"], { NATS_URL: url });
  await child.waitForLine((l) => l === "ready");
  return {
    pid: child.pid,
    describe: `child process (node --import tsx bench/barePost.ts, pid ${child.pid})`,
    stop: () => child.stop(),
  };
}

/** The bare post service in the bench process, on a connection of its own. */
async function startBareInProcess(url: string): Promise<ServiceUnderTest> {
  const nc = await connectNats(url, { name: "natter-bench-bare" });
  const service = await startBarePostService(nc);
  return {
    pid: undefined,
    describe: "in the bench process (its own connection)",
    async stop() {
      await service.stop();
      await nc.close();
    },
  };
}

/** Counts error replies by code, for the phase's final line. */
class Errors {
  readonly byCode = new Map<string, number>();
  add(code: string): void {
    this.byCode.set(code, (this.byCode.get(code) ?? 0) + 1);
  }
  get total(): number {
    let n = 0;
    for (const v of this.byCode.values()) n += v;
    return n;
  }
  toString(): string {
    return [...this.byCode].map(([c, n]) => `${c}: ${n}`).join(", ");
  }
}

/** Phase 1: raw JetStream appends. Returns events/s. */
async function rawPhase(nc: NatsConnection, o: Options, cpu: CpuMeter): Promise<number> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({
    ...eventStreamConfig(),
    name: "BENCH_RAW",
    subjects: ["raw.>"],
    description: "natter bench: raw appends",
  });
  const js = jetstream(nc, { timeout: 10_000 });
  const subjects = Array.from({ length: o.subjects }, (_, i) => `raw.msg.r${String(i).padStart(4, "0")}`);
  const lastSeq = new Array<number>(o.subjects).fill(0);
  const pending = new Array<Promise<void> | undefined>(o.subjects).fill(undefined);
  // The same shape as a MessagePosted event: JSON payload, natter's headers, Nats-Msg-Id.
  const payload = new TextEncoder().encode(
    JSON.stringify({
      roomId: fastUlid(),
      messageId: fastUlid(),
      authorId: "sender-00",
      body: postBody(0),
      mentions: [],
    }),
  );
  const errors = new Errors();

  const publishAll = async (count: number, phase: Phase, offset: number): Promise<void> => {
    await windowed(count, o.window, async (i) => {
      const n = offset + i;
      const s = n % o.subjects;
      // Never two appends to one subject at once: the second must expect the first's sequence.
      while (pending[s] !== undefined) await pending[s];
      const commandId = fastUlid();
      const h = eventHeaders("MessagePosted", 1, "sender-00", commandId);
      const p = js
        .publish(subjects[s]!, payload, {
          headers: h,
          msgID: `sender-00:${commandId}`,
          expect: { lastSubjectSequence: lastSeq[s]! },
          timeout: 10_000,
        })
        .then(
          (ack) => {
            lastSeq[s] = ack.seq;
            phase.done++;
          },
          (err: unknown) => {
            errors.add(
              (err as { code?: unknown }).code !== undefined
                ? `js ${String((err as { code?: unknown }).code)}`
                : String(err),
            );
            phase.errors++;
          },
        )
        .finally(() => {
          pending[s] = undefined;
        });
      pending[s] = p;
      await p;
    });
  };

  const warm = new Phase("raw warm-up", o.rawWarmup);
  await publishAll(o.rawWarmup, warm, 0);
  warm.end();
  // Rounds, and the median of their rates: a single round of the client-bound raw phase varied by
  // up to 1.5x between runs on the 2-core machine.
  const rates: number[] = [];
  const perRound = Math.ceil(o.rawEvents / o.rawRounds);
  for (let round = 0; round < o.rawRounds; round++) {
    await cpu.start();
    const phase = new Phase(
      `raw append round ${round + 1}/${o.rawRounds} (window ${o.window}, ${fmt(o.subjects)} subjects)`,
      perRound,
    );
    await publishAll(perRound, phase, o.rawWarmup + round * perRound);
    const elapsed = phase.end(`${await cpu.report()}${errors.total ? `; errors ${errors}` : ""}`);
    if (errors.total > 0) throw new Error(`raw phase: ${errors.total} publishes failed (${errors})`);
    rates.push(phase.done / elapsed);
  }
  const sorted = [...rates].sort((a, b) => a - b);
  const median = percentile(sorted, 0.5);
  say(
    `raw append: median of ${rates.length} rounds ${fmt(median)} events/s (${fmt(sorted[0]!)} to ${fmt(sorted[sorted.length - 1]!)})`,
  );
  return median;
}

/** Which rooms a sender joins and posts in: rooms r with r % groups === s % groups. */
function roomsOf(sender: number, o: Options): number[] {
  const groups = Math.max(1, Math.floor(o.senders / o.membersPerRoom));
  const out: number[] = [];
  for (let r = sender % groups; r < o.rooms; r += groups) out.push(r);
  return out;
}

/** A measured closed-loop post phase: its rate, its errors, and the server's operations per post. */
type PostResult = { rate: number; errors: Errors; ops: ServerOpsPerItem | undefined };

/** Whether server operations per post are those of issue 15's post path: 1 append (stored), no read, no KV write. */
function onePostOneAppend(o: ServerOpsPerItem): boolean {
  const near = (v: number, want: number): boolean => Math.abs(v - want) < 0.005;
  return (
    near(o.appends, 1) &&
    near(o.stored, 1) &&
    near(o.directGets, 0) &&
    near(o.kvReads, 0) &&
    near(o.kvWrites, 0) &&
    near(o.api, 0)
  );
}

export const commandsSuite: Suite = {
  about:
    "raw JetStream appends and the bare one-append bound vs msg.post commands/s; server operations per post; command latency at 1,000/s",
  usage,
  async run(args) {
    const o: Options = parseOptions(args, defaults);
    if (
      o.senders < 1 ||
      o.rooms < 1 ||
      o.subjects < 1 ||
      o.window < 1 ||
      o.rate < 1 ||
      o.rawRounds < 1 ||
      o.membersPerRoom < 1 ||
      o.membersPerRoom > o.senders
    ) {
      console.error(
        "error: senders, rooms, subjects, window, rate and raw-rounds must be at least 1, and members-per-room between 1 and senders",
      );
      return 2;
    }

    let server: TempNats | undefined;
    let nc: NatsConnection | undefined;
    let service: ServiceUnderTest | undefined;
    let bare: ServiceUnderTest | undefined;
    const cleanup = async (): Promise<void> => {
      await bare?.stop().catch((err: unknown) => console.error(`stopping the bare service: ${String(err)}`));
      await service?.stop().catch((err: unknown) => console.error(`stopping the command service: ${String(err)}`));
      await nc?.close().catch(() => undefined);
      await server?.stop().catch((err: unknown) => console.error(`stopping nats-server: ${String(err)}`));
    };
    // Ctrl-C: stop the services and the server and remove the temporary folder before exiting.
    const removeInterrupt = onInterrupt(cleanup);
    try {
      server = await startTempNats({ monitor: true });
      const monitorUrl = server.monitorUrl!;
      say(
        `nats-server ${server.version} at ${server.url} (monitoring ${monitorUrl}), store ${server.dir}; ${cpus().length} cores, load average ${loadavg()[0]!.toFixed(2)}`,
      );
      nc = await connectNats(server.url, { name: "natter-bench" });

      // 1. Raw JetStream.
      const cpuRaw = new CpuMeter({ server: server.process.pid, bench: process.pid });
      const rawRate = await rawPhase(nc, o, cpuRaw);

      // Rooms and senders, the same for the bare service and natter.
      const roomIds = Array.from({ length: o.rooms }, (_, i) => `bench-room-${String(i).padStart(4, "0")}`);
      const senderIds = Array.from({ length: o.senders }, (_, i) => `sender-${String(i).padStart(2, "0")}`);
      const senderRooms = senderIds.map((_, s) => roomsOf(s, o));
      const expectOk = (r: CommandReply, phase: Phase, errors: Errors): boolean => {
        if (r.ok) {
          phase.done++;
          return true;
        }
        errors.add(r.error.code);
        phase.errors++;
        return false;
      };
      const createRooms = async (prefix: string): Promise<void> => {
        const errors = new Errors();
        const create = new Phase(`setup: room.create (${prefix}.)`, o.rooms);
        await windowed(o.rooms, o.senders, async (i) => {
          expectOk(
            await send(
              nc!,
              "bench-owner",
              "room.create",
              { name: `bench ${i}`, kind: "public", roomId: roomIds[i] },
              prefix,
            ),
            create,
            errors,
          );
        });
        create.end();
        if (errors.total > 0) throw new Error(`setup failed: ${errors}`);
      };

      // Closed loop: each sender keeps one request in flight, rooms round-robin. A measured run
      // reads the server's counters before and after (over HTTP: no message through the server).
      let posted = 0;
      const postRun = async (
        name: string,
        count: number,
        prefix: string,
        cpu: CpuMeter | undefined,
      ): Promise<PostResult> => {
        const errors = new Errors();
        const before = cpu ? await readServerCounters(monitorUrl) : undefined;
        const phase = new Phase(name, count);
        if (cpu) await cpu.start();
        let next = 0;
        await Promise.all(
          senderIds.map(async (user, s) => {
            const rooms = senderRooms[s]!;
            let turn = 0;
            while (next < count) {
              next++;
              const r = rooms[turn++ % rooms.length]!;
              try {
                expectOk(
                  await send(nc!, user, "msg.post", { roomId: roomIds[r], body: postBody(posted++) }, prefix),
                  phase,
                  errors,
                );
              } catch (err) {
                errors.add(String(err));
                phase.errors++;
              }
            }
          }),
        );
        const elapsed = phase.end(cpu ? await cpu.report() : "");
        if (errors.total > 0) say(`  errors: ${errors}`);
        let ops: ServerOpsPerItem | undefined;
        if (before !== undefined) {
          // Writes sent without waiting for an ack (natter's command-index put) reach the server
          // just after the reply they go with.
          await new Promise((r) => setTimeout(r, 250));
          ops = serverOpsPerItem(before, await readServerCounters(monitorUrl), count);
          say(`  server operations per post: ${formatServerOps(ops)}`);
          for (const line of ops.byStream) say(`    ${line}`);
        }
        return { rate: phase.done / elapsed, errors, ops };
      };

      // 2. The bare bound: one guarded append per post, nothing else.
      let barePosts: PostResult | undefined;
      if (!o.noBare) {
        bare = o.inProcess || o.bareInProcess ? await startBareInProcess(server.url) : await startBareChild(server.url);
        say(`bare post service ready: ${bare.describe}`);
        await createRooms("bare");
        const cpuBare = new CpuMeter({ server: server.process.pid, bare: bare.pid, bench: process.pid });
        await postRun(`bare msg.post warm-up (${o.senders} senders)`, o.warmup, "bare", undefined);
        barePosts = await postRun(
          `bare msg.post (${o.senders} senders, ${fmt(o.rooms)} rooms)`,
          o.posts,
          "bare",
          cpuBare,
        );
        const bareInfo = await (await jetstreamManager(nc)).streams.info(BARE_STREAM);
        say(
          `${BARE_STREAM}: ${fmt(bareInfo.state.messages)} events (expected ${fmt(o.rooms + o.warmup + o.posts - barePosts.errors.total)})`,
        );
        // Off the machine's cores before natter is measured.
        await bare.stop();
        bare = undefined;
      }

      // The command service.
      service = o.inProcess ? await startInProcessService(server.url) : await startChildService(server.url, o.cpuProf);
      await waitForService(nc);
      say(`command service ready: ${service.describe}`);
      const cpu = new CpuMeter({ server: server.process.pid, service: service.pid, bench: process.pid });

      await createRooms("cmd");
      const setupErrors = new Errors();
      const joins = senderRooms.flatMap((rooms, s) => rooms.map((r) => [s, r] as const));
      const join = new Phase(`setup: room.join (${o.membersPerRoom} senders per room)`, joins.length);
      await windowed(joins.length, o.senders, async (i) => {
        const [s, r] = joins[i]!;
        expectOk(await send(nc!, senderIds[s]!, "room.join", { roomId: roomIds[r] }), join, setupErrors);
      });
      join.end();
      if (setupErrors.total > 0) throw new Error(`setup failed: ${setupErrors}`);

      // 3. natter's msg.post, closed loop.
      await postRun(`msg.post warm-up (${o.senders} senders)`, o.warmup, "cmd", undefined);
      const posts = await postRun(`msg.post (${o.senders} senders, ${fmt(o.rooms)} rooms)`, o.posts, "cmd", cpu);

      // 5. Latency at a steady rate, open loop.
      const warmCount = Math.round(o.latencyWarmup * o.rate);
      const total = warmCount + Math.round(o.duration * o.rate);
      const latencies: number[] = [];
      const bySecond: number[][] = Array.from({ length: Math.ceil(o.duration) }, () => []);
      const loopDelay = monitorEventLoopDelay({ resolution: 1 });
      const latErrors = new Errors();
      const steady = new Phase(
        `msg.post at ${fmt(o.rate)}/s open loop (${o.latencyWarmup} s warm-up + ${o.duration} s)`,
        total,
      );
      let maxBehind = 0;
      await cpu.start();
      loopDelay.enable();
      ({ maxLateMs: maxBehind } = await openLoop(o.rate, total, async (k, scheduled) => {
        const s = k % o.senders;
        const rooms = senderRooms[s]!;
        const r = rooms[Math.floor(k / o.senders) % rooms.length]!;
        await send(nc!, senderIds[s]!, "msg.post", { roomId: roomIds[r], body: postBody(posted++) }).then(
          (reply) => {
            const latency = performance.now() - scheduled;
            if (expectOk(reply, steady, latErrors) && k >= warmCount) {
              latencies.push(latency);
              bySecond[Math.min(bySecond.length - 1, Math.floor((k - warmCount) / o.rate))]!.push(latency);
            }
          },
          (err: unknown) => {
            latErrors.add(String(err));
            steady.errors++;
          },
        );
      }));
      loopDelay.disable();
      const steadyElapsed = steady.end(`${await cpu.report()}`);
      if (latErrors.total > 0) say(`  errors: ${latErrors}`);
      const lat = summarize(latencies);
      const seconds = bySecond.map((l) => summarize(l).p99);
      say(
        `  p99 per second: ${seconds.map((v) => v.toFixed(1)).join(" ")} ms; ` +
          `bench event loop: sends up to ${ms(maxBehind)} late, delay p99 ${ms(loopDelay.percentile(99) / 1e6)}, max ${ms(loopDelay.max / 1e6)}`,
      );

      // Check the log holds what was appended.
      const info = await (await jetstreamManager(nc)).streams.info(EVENT_STREAM);
      const expected = o.rooms + joins.length + o.warmup + o.posts + total - posts.errors.total - latErrors.total;
      say(
        `${EVENT_STREAM}: ${fmt(info.state.messages)} events (expected ${fmt(expected)}), ${fmt(info.state.bytes / 1e6, 1)} MB`,
      );

      // Results.
      if (CpuMeter.worstOthers > 0.15) {
        console.log(
          `\nWARNING: other processes used up to ${Math.round(CpuMeter.worstOthers * 100)}% of one core during a measured phase ` +
            `(${cpus().length} cores): these figures are disturbed; run again on a quiet machine.`,
        );
      }
      const bareRatio = barePosts === undefined ? Number.NaN : posts.rate / barePosts.rate;
      const rawRatio = posts.rate / rawRate;
      const bareOk = bareRatio >= TARGET_BARE_RATIO;
      const latOk = lat.p99 <= TARGET_P99_MS && o.rate >= 1000 && latErrors.total === 0;
      const opsOk = posts.ops !== undefined && onePostOneAppend(posts.ops);
      const countingOk = barePosts?.ops !== undefined && onePostOneAppend(barePosts.ops);
      const achieved = steady.done / steadyElapsed;
      const where = (inProcess: boolean): string => (inProcess ? "in the bench process" : "in a child process");
      console.log("");
      console.log(
        `results (nats-server ${server.version}; command service ${where(o.inProcess)}` +
          `${o.noBare ? "" : `, bare service ${where(o.inProcess || o.bareInProcess)}`})`,
      );
      console.log(
        `  1. raw JetStream append, expected last subject seq, window ${o.window}, ${fmt(o.subjects)} subjects: ${fmt(rawRate)} events/s (median of ${o.rawRounds} rounds)`,
      );
      if (barePosts !== undefined) {
        console.log(
          `  2. bare bound, one guarded append per post, ${o.senders} senders, ${fmt(o.rooms)} rooms, ${fmt(o.posts)} posts: ${fmt(barePosts.rate)} posts/s`,
        );
      } else console.log("  2. bare bound: skipped (--no-bare)");
      console.log(
        `  3. natter msg.post end to end, ${o.senders} senders, ${fmt(o.rooms)} rooms, ${fmt(o.posts)} posts:     ${fmt(posts.rate)} commands/s`,
      );
      console.log(
        `  4. natter/bare (3)/(2): ${bareRatio.toFixed(3)}   target >= ${TARGET_BARE_RATIO}   ${barePosts === undefined ? "not measured" : verdict(bareOk)}`,
      );
      console.log(
        `     natter/raw  (3)/(1): ${rawRatio.toFixed(3)}   (issue 2's target >= ${ISSUE2_RAW_RATIO}: ${verdict(rawRatio >= ISSUE2_RAW_RATIO)})`,
      );
      console.log(
        `  5. latency at ${fmt(o.rate)}/s open loop (${fmt(lat.count)} commands, achieved ${fmt(achieved)}/s): ` +
          `p50 ${ms(lat.p50)}, p90 ${ms(lat.p90)}, p99 ${ms(lat.p99)}, p99.9 ${ms(lat.p999)}, max ${ms(lat.max)}   ` +
          `target p99 <= ${TARGET_P99_MS} ms   ${verdict(latOk)}`,
      );
      console.log(`  6. server operations per post (the server's counters, before and after each measured phase):`);
      if (barePosts?.ops !== undefined) {
        console.log(
          `     bare:   ${formatServerOps(barePosts.ops)}   counting check (exactly 1 append, no read): ${countingOk ? "OK" : "FAILED"}`,
        );
      }
      console.log(
        `     natter: ${posts.ops ? formatServerOps(posts.ops) : "not counted"}   target 1 append, no read, no KV write   ${verdict(opsOk)}`,
      );
      return o.strict && !(bareOk && latOk && opsOk) ? 1 : 0;
    } finally {
      await cleanup();
      removeInterrupt();
    }
  },
};
