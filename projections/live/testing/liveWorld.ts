import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { createTokenVerifier } from "../../../auth/tokenVerifier.ts";
import { LiveEvent, userIdFromSub } from "../../../domain/index.ts";
import { startAuthSystem, type AuthSystem } from "../../../test/authHarness.ts";
import { mustSend } from "../../../test/commandClient.ts";
import { startTestIssuer, type TestIssuer } from "../../../test/tokenIssuer.ts";

/** Resolves as `promise` does, or fails with `what` after `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A live message as a client received it. */
export type Received = { subject: string; event: LiveEvent };

/** What arrived on a connection's live subscriptions, with a way to wait for a message. */
export class Recorder {
  readonly received: Received[] = [];
  private waiters: { match: (r: Received) => boolean; resolve: (r: Received) => void }[] = [];

  /** Subscribes `nc` to `subject` and records what arrives. */
  listen(nc: NatsConnection, subject: string): void {
    nc.subscribe(subject, {
      callback: (err, m) => {
        if (err !== null) return;
        const r = { subject: m.subject, event: LiveEvent.parse(m.json()) };
        this.received.push(r);
        this.waiters = this.waiters.filter((w) => (w.match(r) ? (w.resolve(r), false) : true));
      },
    });
  }

  /** Resolves with the first message (already arrived or to come) that matches; fails after `timeoutMs`. */
  waitFor(match: (r: Received) => boolean, what: string, timeoutMs = 5000): Promise<Received> {
    const found = this.received.find(match);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const seen = this.received.map((r) => `${r.subject} ${r.event.type}#${r.event.seq}`).join(", ");
        reject(new Error(`timed out waiting for ${what}; received: ${seen || "nothing"}`));
      }, timeoutMs);
      this.waiters.push({
        match,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      });
    });
  }

  /** The messages on subjects that start with `prefix`. */
  on(prefix: string): Received[] {
    return this.received.filter((r) => r.subject.startsWith(prefix));
  }
}

/** A signed-in user with the `user` role, listening on their own `deliver.<id>.>`. */
export type TestUser = {
  readonly name: string;
  readonly id: string;
  readonly nc: NatsConnection;
  readonly inbox: Recorder;
  /** Sends a command as this user; throws unless it succeeds. */
  send(action: string, body: Record<string, unknown>): Promise<{ result: Record<string, unknown>; seq: number }>;
};

/** The system the live tests run against: NATS with the auth callout, the command service, a token issuer. */
export type LiveWorld = {
  readonly sys: AuthSystem;
  readonly issuer: TestIssuer;
  /** Signs `name` in (once per world) and subscribes them to their own deliveries. */
  user(name: string): Promise<TestUser>;
  /** Creates a room as `owner` and has `joiners` join it; resolves with its id. */
  room(owner: TestUser, kind: "public" | "private", members?: TestUser[], joiners?: TestUser[]): Promise<string>;
  /**
   * Waits until the fan-out has published everything before this call: posts a marker in a
   * public room of its own, waits for it on `live.room`, then flushes every user's connection, so
   * that whatever the fan-out sent them earlier has arrived.
   */
  barrier(): Promise<void>;
  stop(): Promise<void>;
};

/** Starts a LiveWorld; the live part under test is started by the test on `sys.service("projections")`. */
export async function startLiveWorld(): Promise<LiveWorld> {
  const issuer = await startTestIssuer();
  const verifier = createTokenVerifier({ issuer: issuer.issuer, audience: "natter" });
  const sys = await startAuthSystem({ verify: (t) => verifier.verify(t), log: pino({ level: "silent" }) });
  const users = new Map<string, TestUser>();
  const user = async (name: string): Promise<TestUser> => {
    const known = users.get(name);
    if (known !== undefined) return known;
    const id = userIdFromSub(issuer.subOf(name));
    const nc = await sys.user(await issuer.token(name, ["user"]), id);
    const inbox = new Recorder();
    inbox.listen(nc, `deliver.${id}.>`);
    await nc.flush();
    const u: TestUser = { name, id, nc, inbox, send: (action, body) => mustSend(nc, id, action, body) };
    users.set(name, u);
    return u;
  };
  const room = async (
    owner: TestUser,
    kind: "public" | "private",
    members: TestUser[] = [],
    joiners: TestUser[] = [],
  ) => {
    const created = await owner.send("room.create", { name: `${kind} room`, kind, members: members.map((m) => m.id) });
    const roomId = created.result["roomId"] as string;
    for (const j of joiners) await j.send("room.join", { roomId });
    return roomId;
  };
  let marker: { user: TestUser; roomId: string; seen: Recorder } | undefined;
  return {
    sys,
    issuer,
    user,
    room,
    async barrier() {
      if (marker === undefined) {
        const u = await user("barrier");
        const seen = new Recorder();
        const roomId = await room(u, "public");
        seen.listen(u.nc, `live.room.${roomId}`);
        await u.nc.flush();
        marker = { user: u, roomId, seen };
      }
      const { seq } = await marker.user.send("msg.post", { roomId: marker.roomId, body: "barrier" });
      await marker.seen.waitFor((r) => r.event.seq === seq, `the barrier post #${seq}`);
      await Promise.all([...users.values()].map((u) => u.nc.flush()));
    },
    async stop() {
      await sys.stop();
      await issuer.close();
    },
  };
}
