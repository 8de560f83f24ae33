import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LiveEvent, type PresenceStatus, type RateLimit } from "../../domain/index.ts";
import { connectNats, ensureBuckets } from "../../streams/index.ts";
import { startTestNats } from "../../test/nats.ts";
import { kvLastValues } from "./kvLastValues.ts";
import { startPresence, type Presence } from "./presence.ts";

const HEARTBEAT_MS = 150;
const TIMEOUT_MS = 600;
/** The sweep period presence derives from the timeout. */
const SWEEP_MS = TIMEOUT_MS / 10;
const LEASE_MS = 1000;
const STANDBY_POLL_MS = 100;
/** Slack on top of a bound: the last heartbeat's trip to the KV and timer jitter on a busy machine (the sweep itself reads memory). */
const SLACK_MS = 250;
/** The server removes an expired lease (max_age) on a timer of its own, a few hundred ms late at worst. */
const LEASE_EXPIRY_SLACK_MS = 500;
const ROOMS = ["room-a", "room-b"];
/** The per-user connection cap of the flood test (the others run with 50: one bursts 40 connections). */
const MAX_CONNECTIONS = 5;

let server: Awaited<ReturnType<typeof startTestNats>>;
const connections: NatsConnection[] = [];
const connect = async () => {
  const nc = await connectNats(server.url);
  connections.push(nc);
  return nc;
};
let clients: NatsConnection;

beforeAll(async () => {
  server = await startTestNats();
  clients = await connect();
});
afterAll(async () => {
  await Promise.all(connections.map((c) => c.close().catch(() => undefined)));
  await server?.stop();
});

type Call = { instance: string; roomId: string; event: LiveEvent; at: number };

/** What the instances announced, with a way to wait for an announcement that fails on a timeout. */
class Announcements {
  readonly calls: Call[] = [];
  private readonly waiters = new Set<() => void>();

  publishTo(instance: string) {
    return async (roomId: string, event: LiveEvent) => {
      this.calls.push({ instance, roomId, event, at: Date.now() });
      for (const w of this.waiters) w();
    };
  }

  of(userId: string): Call[] {
    return this.calls.filter((c) => c.event.payload["userId"] === userId);
  }

  /** The statuses announced for `userId` in `roomId`, in order. */
  statuses(userId: string, roomId: string): unknown[] {
    return this.of(userId)
      .filter((c) => c.roomId === roomId)
      .map((c) => c.event.payload["status"]);
  }

  /** Resolves with the first call announcing `status` for `userId` in every room, once all have come. */
  async waitFor(
    userId: string,
    status: PresenceStatus,
    timeoutMs = 5000,
    rooms: readonly string[] = ROOMS,
  ): Promise<Call[]> {
    const found = () => {
      const calls = this.of(userId).filter((c) => c.event.payload["status"] === status);
      return rooms.every((r) => calls.some((c) => c.roomId === r)) ? calls : undefined;
    };
    const now = found();
    if (now) return now;
    return new Promise((resolve, reject) => {
      const check = () => {
        const calls = found();
        if (!calls) return;
        cleanup();
        resolve(calls);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `no "${status}" announcement for ${userId} within ${timeoutMs} ms; got ${JSON.stringify(this.of(userId).map((c) => [c.roomId, c.event.payload["status"]]))}`,
          ),
        );
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }
}

/** Polls `condition` until it holds; fails after `timeoutMs`. For states that no event reports. */
async function eventually(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One client connection of a user: sends its status now and then every HEARTBEAT_MS. */
function connection(nc: NatsConnection, userId: string, connectionId: string) {
  let timer: NodeJS.Timeout | undefined;
  let status: PresenceStatus = "online";
  let last = 0;
  const send = (s: PresenceStatus) => {
    last = Date.now();
    nc.publish(`presence.${userId}`, JSON.stringify({ connectionId, status: s }));
  };
  return {
    /** When the last heartbeat was sent. */
    get lastHeartbeatAt() {
      return last;
    },
    set(s: "online" | "away") {
      status = s;
      clearInterval(timer);
      send(s);
      timer = setInterval(() => send(status), HEARTBEAT_MS);
    },
    /** The goodbye. */
    bye() {
      clearInterval(timer);
      send("offline");
    },
    /** Stops heartbeating without a goodbye, as a killed client does. */
    kill() {
      clearInterval(timer);
    },
  };
}

type Instance = { name: string; presence: Presence; registry: Registry; nc: NatsConnection };

type InstanceOptions = { realRooms?: boolean; maxConnectionsPerUser?: number; heartbeatRateLimit?: RateLimit };

async function startInstance(
  name: string,
  announcements: Announcements,
  options: InstanceOptions = {},
): Promise<Instance> {
  const conn = await connect();
  const registry = new Registry();
  const presence = await startPresence(conn, {
    publishToRoom: announcements.publishTo(name),
    ...(options.realRooms ? {} : { roomsOf: async () => ROOMS }),
    heartbeatMs: HEARTBEAT_MS,
    timeoutMs: TIMEOUT_MS,
    leaseMs: LEASE_MS,
    standbyPollMs: STANDBY_POLL_MS,
    maxConnectionsPerUser: options.maxConnectionsPerUser ?? 50,
    ...(options.heartbeatRateLimit ? { heartbeatRateLimit: options.heartbeatRateLimit } : {}),
    log: pino({ level: process.env["NATTER_TEST_LOG"] ?? "silent" }),
    registry,
  });
  return { name, presence, registry, nc: conn };
}

async function metric(i: Instance, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await i.registry.getSingleMetric(name)?.get();
  return (
    m?.values
      .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
      .reduce((a, v) => a + v.value, 0) ?? 0
  );
}
const isActive = async (i: Instance) => (await metric(i, "natter_presence_active")) === 1;

async function activeOf(instances: Instance[]): Promise<Instance> {
  let active: Instance | undefined;
  await eventually("one instance holds the presence lease", async () => {
    const flags = await Promise.all(instances.map(isActive));
    active = flags.filter(Boolean).length === 1 ? instances[flags.indexOf(true)] : undefined;
    return active !== undefined;
  });
  return active!;
}

/** Starts instances named `names`, runs `body` once one of them announces, stops them all after. */
async function withInstances(
  names: string[],
  body: (a: Announcements, instances: Instance[], active: Instance) => Promise<void>,
  options: InstanceOptions = {},
): Promise<void> {
  const a = new Announcements();
  const instances: Instance[] = [];
  try {
    for (const name of names) instances.push(await startInstance(name, a, options));
    await body(a, instances, await activeOf(instances));
  } finally {
    await Promise.all(instances.map((i) => i.presence.stop()));
  }
}

/** A connection of `userId` that comes online, is announced, and then goes silent; resolves with when it last sent. */
async function onlineThenSilent(a: Announcements, nc: NatsConnection, userId: string): Promise<number> {
  const c = connection(nc, userId, "c1");
  c.set("online");
  await a.waitFor(userId, "online");
  c.kill();
  await nc.flush();
  return c.lastHeartbeatAt;
}

/** Checks that the offline announcements came from `instance`, no sooner than the timeout after `last` and no later than `latestMs` after it. */
function expectOfflineBetween(offline: Call[], instance: string, last: number, latestMs: number): void {
  expect(new Set(offline.map((x) => x.instance)), "announced by").toEqual(new Set([instance]));
  expect(Math.min(...offline.map((x) => x.at)) - last, "announced before the timeout").toBeGreaterThanOrEqual(
    TIMEOUT_MS,
  );
  expect(Math.max(...offline.map((x) => x.at)) - last, "announced after the bound").toBeLessThanOrEqual(latestMs);
}

function expectAnnounced(a: Announcements, userId: string, statuses: PresenceStatus[]): void {
  for (const r of ROOMS) expect(a.statuses(userId, r), `announcements for ${userId} in ${r}`).toEqual(statuses);
}

describe("presence", () => {
  test("a user with several connections is online while any says online, away while all say away, offline after the goodbyes", async () => {
    await withInstances(["one"], async (a, [p]) => {
      const laptop = connection(clients, "multi", "laptop");
      const phone = connection(clients, "multi", "phone");

      laptop.set("online");
      const online = await a.waitFor("multi", "online");
      for (const c of online) {
        expect(LiveEvent.parse(c.event)).toEqual({
          seq: 0,
          time: expect.any(String),
          type: "Presence",
          actor: "multi",
          roomId: c.roomId,
          payload: { userId: "multi", status: "online" },
        });
        expect(Math.abs(Date.parse(c.event.time) - c.at)).toBeLessThan(1000);
      }
      expect(await p!.presence.statusOf(["multi", "nobody", "bad.id"])).toEqual({
        multi: "online",
        nobody: "offline",
        "bad.id": "offline",
      });

      phone.set("away"); // one online, one away: still online
      laptop.set("away"); // all away
      await a.waitFor("multi", "away");
      expect(await p!.presence.statusOf(["multi"])).toEqual({ multi: "away" });

      phone.bye(); // laptop still away
      laptop.bye();
      await a.waitFor("multi", "offline");
      expect(await p!.presence.statusOf(["multi"])).toEqual({ multi: "offline" });
      expectAnnounced(a, "multi", ["online", "away", "offline"]);
    });
  });

  test("a connection that stops heartbeating without a goodbye goes offline within timeout + sweep period, not before the timeout", async () => {
    await withInstances(["one"], async (a, [p]) => {
      // Killed: no goodbye, its connection gone.
      const clientNc = await connect();
      const last = await onlineThenSilent(a, clientNc, "crashy");
      await clientNc.close();

      const offline = await a.waitFor("crashy", "offline", TIMEOUT_MS + 5000);
      expectOfflineBetween(offline, "one", last, TIMEOUT_MS + SWEEP_MS + SLACK_MS);
      expect(await p!.presence.statusOf(["crashy"])).toEqual({ crashy: "offline" });
      expectAnnounced(a, "crashy", ["online", "offline"]);
    });
  });

  test("bad heartbeats are ignored: not JSON, a bad connectionId or status, a body naming another user, a malformed user id", async () => {
    await withInstances(["one"], async (a, [p]) => {
      const bad: [string, string][] = [
        ["presence.mallory", "{not json"],
        ["presence.mallory", JSON.stringify({ connectionId: "a.b", status: "online" })],
        ["presence.mallory", JSON.stringify({ connectionId: "", status: "online" })],
        ["presence.mallory", JSON.stringify({ connectionId: "c1", status: "dancing" })],
        ["presence.mallory", JSON.stringify({ status: "online" })],
        ["presence.mallory", JSON.stringify({ connectionId: "c1", status: "online", userId: "victim" })],
        ["presence.bad$id", JSON.stringify({ connectionId: "c1", status: "online" })],
      ];
      for (const [subject, body] of bad) clients.publish(subject, body);
      // A good one after them, on the same connection: once it is announced, the bad ones were handled.
      clients.publish("presence.fence", JSON.stringify({ connectionId: "c1", status: "online" }));
      await a.waitFor("fence", "online");
      await eventually(
        "every heartbeat is counted",
        async () => (await metric(p!, "natter_presence_heartbeats_total")) === bad.length + 1,
      );
      expect(await metric(p!, "natter_presence_heartbeats_total", { outcome: "ignored" })).toBe(bad.length);
      expect(a.of("mallory")).toEqual([]);
      expect(a.of("victim")).toEqual([]);
      expect(await p!.presence.statusOf(["mallory", "victim", "fence"])).toEqual({
        mallory: "offline",
        victim: "offline",
        fence: "online",
      });
      clients.publish("presence.fence", JSON.stringify({ connectionId: "c1", status: "offline" }));
      await a.waitFor("fence", "offline");
    });
  });

  test("a flood of made-up connection ids is capped at the user's connection limit; the rest is refused and counted", async () => {
    await withInstances(
      ["one"],
      async (a, [p]) => {
        for (let i = 0; i < 3000; i++)
          clients.publish("presence.flooder", JSON.stringify({ connectionId: `c${i}`, status: "online" }));
        clients.publish("presence.fence", JSON.stringify({ connectionId: "c1", status: "online" }));
        await a.waitFor("fence", "online");
        await eventually(
          "every heartbeat is counted",
          async () => (await metric(p!, "natter_presence_heartbeats_total")) === 3001,
        );
        const jsm = await jetstreamManager(clients);
        // Counted when taken; stored a moment later.
        let keys: string[] = [];
        await eventually(
          "the admitted heartbeats are stored",
          async () =>
            (keys = (await kvLastValues(jsm, "presence", ["flooder.*"])).map((v) => v.key)).length >= MAX_CONNECTIONS,
        );
        expect(keys).toHaveLength(MAX_CONNECTIONS);
        expect(await metric(p!, "natter_presence_heartbeats_total", { outcome: "too_many_connections" })).toBe(
          3000 - MAX_CONNECTIONS,
        );
        // A connection already counted beats on; one more is refused; a goodbye makes room for it.
        const counted = keys[0]!.slice("flooder.".length);
        clients.publish("presence.flooder", JSON.stringify({ connectionId: counted, status: "away" }));
        clients.publish("presence.flooder", JSON.stringify({ connectionId: "late", status: "online" }));
        await eventually(
          "both are counted",
          async () => (await metric(p!, "natter_presence_heartbeats_total")) === 3003,
        );
        expect(await metric(p!, "natter_presence_heartbeats_total", { outcome: "too_many_connections" })).toBe(
          3001 - MAX_CONNECTIONS,
        );
        clients.publish("presence.flooder", JSON.stringify({ connectionId: counted, status: "offline" }));
        clients.publish("presence.flooder", JSON.stringify({ connectionId: "late", status: "online" }));
        await eventually(
          "the late connection is stored",
          async () => (await kvLastValues(jsm, "presence", ["flooder.late"])).length === 1,
        );
        // Goodbyes of connections nobody counted leave no keys either.
        const beforeGoodbyes = await metric(p!, "natter_presence_heartbeats_total");
        for (let i = 0; i < 500; i++)
          clients.publish("presence.flooder", JSON.stringify({ connectionId: `gone${i}`, status: "offline" }));
        await eventually(
          "the goodbyes are counted",
          async () => (await metric(p!, "natter_presence_heartbeats_total")) === beforeGoodbyes + 500,
        );
        await clients.flush();
        expect(
          (await kvLastValues(jsm, "presence", ["flooder.*"])).filter((v) => v.key.startsWith("flooder.gone")),
        ).toEqual([]);
        clients.publish("presence.fence", JSON.stringify({ connectionId: "c1", status: "offline" }));
        await a.waitFor("fence", "offline");
      },
      { maxConnectionsPerUser: MAX_CONNECTIONS, heartbeatRateLimit: "off" },
    );
  });

  test("heartbeats faster than a user's connections need are refused as rate_limited", async () => {
    await withInstances(
      ["one"],
      async (a, [p]) => {
        for (let i = 0; i < 200; i++)
          clients.publish("presence.chatty", JSON.stringify({ connectionId: "c1", status: "online" }));
        clients.publish("presence.fence", JSON.stringify({ connectionId: "c1", status: "online" }));
        await a.waitFor("fence", "online");
        await eventually(
          "every heartbeat is counted",
          async () => (await metric(p!, "natter_presence_heartbeats_total")) === 201,
        );
        expect(
          await metric(p!, "natter_presence_heartbeats_total", { outcome: "rate_limited" }),
        ).toBeGreaterThanOrEqual(200 - 10 - 5);
        // The burst of 10, and the fence's one.
        expect(await metric(p!, "natter_presence_heartbeats_total", { outcome: "accepted" })).toBeLessThanOrEqual(
          10 + 1 + 1,
        );
        expect(await metric(p!, "natter_presence_heartbeats_total", { outcome: "accepted" })).toBeGreaterThanOrEqual(2);
        clients.publish("presence.fence", JSON.stringify({ connectionId: "c1", status: "offline" }));
        await a.waitFor("fence", "offline");
      },
      { heartbeatRateLimit: { burst: 10, perSecond: 1 } },
    );
  });

  test("two instances: both take heartbeats, one announces, each change once", async () => {
    await withInstances(["left", "right"], async (a, instances, active) => {
      const burst = (status: PresenceStatus) => {
        for (let i = 0; i < 40; i++)
          clients.publish("presence.pair", JSON.stringify({ connectionId: `burst${i}`, status }));
      };
      // Bursts, so the queue group surely hands heartbeats to both.
      burst("online");
      await a.waitFor("pair", "online");
      // Every goodbye after its connection's heartbeat is stored, whichever instance writes it.
      const jsm = await jetstreamManager(clients);
      await eventually(
        "the 40 heartbeats are stored",
        async () => (await kvLastValues(jsm, "presence", ["pair.*"])).length === 40,
      );
      burst("offline");
      await a.waitFor("pair", "offline");
      for (const i of instances)
        expect(
          await metric(i, "natter_presence_heartbeats_total", { outcome: "accepted" }),
          `heartbeats taken by ${i.name}`,
        ).toBeGreaterThan(0);
      expectAnnounced(a, "pair", ["online", "offline"]);
      expect(new Set(a.of("pair").map((x) => x.instance))).toEqual(new Set([active.name]));
    });
  });

  test("the active instance stopped: the standby takes over, does not repeat what was announced, and still enforces the timeout", async () => {
    await withInstances(["left", "right"], async (a, instances, first) => {
      const standby = instances.find((i) => i !== first)!;
      const last = await onlineThenSilent(a, clients, "handover");
      await first.presence.stop();

      const offline = await a.waitFor("handover", "offline", TIMEOUT_MS + 5000);
      expect(await isActive(standby)).toBe(true);
      expectOfflineBetween(offline, standby.name, last, TIMEOUT_MS + SWEEP_MS + STANDBY_POLL_MS + SLACK_MS);
      expectAnnounced(a, "handover", ["online", "offline"]);
    });
  });

  test("the active instance dies without a word: the standby takes over after the lease TTL and announces the silent connection offline", async () => {
    await withInstances(["doomed"], async (a, instances, doomed) => {
      instances.push(await startInstance("survivor", a));
      const last = await onlineThenSilent(a, clients, "orphan");
      // The process dies: its connection goes, its lease is left to expire.
      await doomed.nc.close();

      const offline = await a.waitFor("orphan", "offline", TIMEOUT_MS + LEASE_MS + 5000);
      expectOfflineBetween(
        offline,
        "survivor",
        last,
        Math.max(TIMEOUT_MS, LEASE_MS + LEASE_EXPIRY_SLACK_MS + STANDBY_POLL_MS) + SWEEP_MS + SLACK_MS,
      );
      expectAnnounced(a, "orphan", ["online", "offline"]);
    });
  });

  test("by default a user's rooms are their keys in KV user_rooms, without the rooms they left", async () => {
    const userRooms = (await ensureBuckets(clients)).user_rooms;
    await userRooms.put("roomy.r-joined", JSON.stringify({ role: "member", joinedSeq: 1, seq: 1 }));
    await userRooms.put("roomy.r-owned", JSON.stringify({ role: "owner", joinedSeq: 2, seq: 2 }));
    await userRooms.put("roomy.r-left", JSON.stringify({ role: null, joinedSeq: null, seq: 3 }));
    await userRooms.put("roomyx.r-other", JSON.stringify({ role: "member", joinedSeq: 4, seq: 4 }));
    const a = new Announcements();
    const p = await startInstance("real", a, { realRooms: true });
    try {
      await activeOf([p]);
      clients.publish("presence.roomy", JSON.stringify({ connectionId: "c1", status: "online" }));
      const calls = await a.waitFor("roomy", "online", 5000, ["r-joined", "r-owned"]);
      clients.publish("presence.roomy", JSON.stringify({ connectionId: "c1", status: "offline" }));
      await a.waitFor("roomy", "offline", 5000, ["r-joined", "r-owned"]);
      expect(calls.map((c) => c.roomId).sort()).toEqual(["r-joined", "r-owned"]);
      expect(new Set(a.of("roomy").map((c) => c.roomId))).toEqual(new Set(["r-joined", "r-owned"]));
    } finally {
      await p.presence.stop();
    }
  });

  test("refuses a timeout that is not longer than the heartbeat interval", async () => {
    await expect(
      startPresence(clients, {
        publishToRoom: async () => undefined,
        heartbeatMs: 1000,
        timeoutMs: 1000,
        log: pino({ level: "silent" }),
      }),
    ).rejects.toThrow(/longer than the heartbeat/);
  });
});
