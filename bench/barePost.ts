/**
 * The bound of the architecture for the `commands` bench (issue 15): a bare post service that does
 * what natter's `msg.post` path must do at the least, and nothing else. It serves
 * `bare.<userId>.msg.post` (request/reply, queue group `bare`) on a connection of its own, and per
 * request makes ONE guarded append of a MessagePosted-shaped event to `bev.msg.<roomId>.<messageId>`
 * on the stream BENCH_BARE (configured like CHAT_EVENTS), with
 * `Nats-Expected-Last-Subject-Sequence: <the room's last sequence>` and
 * `Nats-Expected-Last-Subject-Sequence-Subject: bev.room.<roomId>`, a `Nats-Msg-Id` derived from the
 * room and message id, natter's headers, and answers `{ ok, seq }`. No validation, no state but a
 * Map of each room's last sequence, filled by `bare.<userId>.room.create` (one append to
 * `bev.room.<roomId>` expecting 0) and refreshed by a direct get only after a wrong-last-sequence
 * answer. It uses natter's own request/reply machinery (streams/requests.ts), so the difference to
 * natter is natter's work, not a faster client.
 *
 * Run alone in a child process (what the bench does by default, as it runs natter's service):
 *
 *   NATS_URL=... node --import tsx bench/barePost.ts
 *
 * It prints one line `ready` on stdout once it serves, and stops on SIGTERM.
 */
import { pathToFileURL } from "node:url";
import { headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { connectNats } from "../streams/connect.ts";
import { Requests } from "../streams/requests.ts";
import { eventStreamConfig } from "../streams/setup.ts";

/** The bare service's stream, its subjects, and the subjects it serves. */
export const BARE_STREAM = "BENCH_BARE";
export const BARE_QUEUE = "bare";
const roomSubject = (roomId: string): string => `bev.room.${roomId}`;
const messageSubject = (roomId: string, messageId: string): string => `bev.msg.${roomId}.${messageId}`;

/** JetStream's codes for a failed expected-last-subject-sequence check (streams/eventStore.ts). */
const WRONG_LAST_SEQUENCE = new Set([10071, 10164]);
const TRACEPARENT = `00-${"ab".repeat(16)}-${"cd".repeat(8)}-01`;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The headers natter puts on an event (streams/envelope.ts), for a command of `actor`. */
export function eventHeaders(type: string, schema: number, actor: string, commandId: string): MsgHdrs {
  const h = natsHeaders();
  h.set("Natter-Type", type);
  h.set("Natter-Schema", String(schema));
  h.set("Natter-Actor", actor);
  h.set("Natter-Command", commandId);
  h.set("Natter-Correlation", commandId);
  h.set("Natter-Causation", commandId);
  h.set("traceparent", TRACEPARENT);
  return h;
}

/** A running bare post service. */
export type BarePostService = { stop(): Promise<void> };

type PubAck = { seq?: number; duplicate?: boolean; error?: { code?: number; err_code?: number; description?: string } };
type Reply = { ok: true; seq: number } | { ok: false; error: { code: string; message: string } };

/**
 * Serves `bare.*.msg.post` and `bare.*.room.create` on `nc` (see the file's comment); creates the
 * stream BENCH_BARE (CHAT_EVENTS' configuration, subjects `bev.>`) if it is missing.
 */
export async function startBarePostService(nc: NatsConnection): Promise<BarePostService> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({
    ...eventStreamConfig(),
    name: BARE_STREAM,
    subjects: ["bev.>"],
    description: "natter bench: the bare post service",
  });
  const requests = new Requests(nc, 10_000);
  const roomSeq = new Map<string, number>();

  const append = async (subject: string, payload: Uint8Array, headers: MsgHdrs): Promise<PubAck> => {
    const m = await requests.request(subject, payload, { headers });
    return JSON.parse(decoder.decode(m.data)) as PubAck;
  };
  const refused = (ack: PubAck): Reply => ({
    ok: false,
    error: {
      code: "refused",
      message: `${ack.error?.description ?? "no sequence"} (${ack.error?.err_code ?? ack.error?.code ?? "?"})`,
    },
  });

  const post = async (userId: string, cmd: { commandId: string; roomId: string; body: string }): Promise<Reply> => {
    const messageId = cmd.commandId;
    const payload = encoder.encode(
      JSON.stringify({ roomId: cmd.roomId, messageId, authorId: userId, body: cmd.body, mentions: [] }),
    );
    for (let attempt = 0; attempt < 3; attempt++) {
      let seq = roomSeq.get(cmd.roomId);
      if (seq === undefined) {
        const last = await requests.lastBySubject(BARE_STREAM, roomSubject(cmd.roomId));
        seq = last === null ? 0 : Number(last.headers?.get("Nats-Sequence") ?? 0);
        roomSeq.set(cmd.roomId, seq);
      }
      const h = eventHeaders("MessagePosted", 2, userId, cmd.commandId);
      h.set("Nats-Msg-Id", `${cmd.roomId}:${messageId}`);
      h.set("Nats-Expected-Last-Subject-Sequence", String(seq));
      h.set("Nats-Expected-Last-Subject-Sequence-Subject", roomSubject(cmd.roomId));
      const ack = await append(messageSubject(cmd.roomId, messageId), payload, h);
      if (ack.error?.err_code !== undefined && WRONG_LAST_SEQUENCE.has(ack.error.err_code)) {
        roomSeq.delete(cmd.roomId);
        continue;
      }
      return typeof ack.seq === "number" && ack.error === undefined ? { ok: true, seq: ack.seq } : refused(ack);
    }
    return { ok: false, error: { code: "conflict", message: "the room kept changing" } };
  };

  const create = async (userId: string, cmd: { commandId: string; roomId: string; name?: string }): Promise<Reply> => {
    const h = eventHeaders("RoomCreated", 1, userId, cmd.commandId);
    h.set("Nats-Msg-Id", `${userId}:${cmd.commandId}`);
    h.set("Nats-Expected-Last-Subject-Sequence", "0");
    const ack = await append(
      roomSubject(cmd.roomId),
      encoder.encode(JSON.stringify({ roomId: cmd.roomId, name: cmd.name ?? "", ownerId: userId })),
      h,
    );
    if (typeof ack.seq !== "number" || ack.error !== undefined) return refused(ack);
    roomSeq.set(cmd.roomId, ack.seq);
    return { ok: true, seq: ack.seq };
  };

  const onMessage = (msg: Msg): void => {
    const [, userId = "", ...rest] = msg.subject.split(".");
    const action = rest.join(".");
    const answer = (reply: Reply): void => {
      if (msg.reply) requests.publish(msg.reply, encoder.encode(JSON.stringify(reply)));
    };
    void (async () => {
      const cmd = JSON.parse(decoder.decode(msg.data)) as {
        commandId: string;
        roomId: string;
        body: string;
        name?: string;
      };
      return action === "msg.post" ? post(userId, cmd) : create(userId, cmd);
    })().then(answer, (err: unknown) => answer({ ok: false, error: { code: "unavailable", message: String(err) } }));
  };
  const callback = (err: Error | null, msg: Msg): void => {
    if (err === null) onMessage(msg);
  };
  const subs = [
    nc.subscribe("bare.*.msg.post", { queue: BARE_QUEUE, callback }),
    nc.subscribe("bare.*.room.create", { queue: BARE_QUEUE, callback }),
  ];
  await nc.flush();
  return {
    async stop() {
      await Promise.all(subs.map((s) => s.drain()));
      await requests.flushed();
      requests.close();
    },
  };
}

async function main(): Promise<void> {
  const url = process.env["NATS_URL"];
  if (!url) throw new Error("NATS_URL must be set");
  const nc = await connectNats(url, { name: "natter-bench-bare" });
  const service = await startBarePostService(nc);
  console.log("ready");
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void service
      .stop()
      .then(() => nc.close())
      .finally(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
