import type { CommandReply } from "../commands/index.ts";
import { roomSubject, timelineFilter, type EventEnvelope, type EventStore } from "../streams/index.ts";

/**
 * A room's events and its messages' events (`ev.room.<roomId>` and `ev.msg.<roomId>.>`), merged
 * in stream order: the order in which the log says things happened.
 */
export async function readRoomLog(store: EventStore, roomId: string): Promise<EventEnvelope[]> {
  const [room, messages] = await Promise.all([
    store.readSubject(roomSubject(roomId)),
    store.readSubject(timelineFilter(roomId)),
  ]);
  return [...room, ...messages].sort((a, b) => a.seq - b.seq);
}

/**
 * Every `MessagePosted` in `log` whose author was not a member of the room at that point of the
 * log, or that landed in an archived room, each described with the room event that made it so.
 * Membership is folded here from the events themselves, independently of the domain's code: a
 * `RoomCreated` or `MemberJoined` makes a member; `MemberLeft`, `MemberRemoved` and `MemberBanned`
 * end it; `RoomArchived` closes the room for good.
 */
export function postsByOutsiders(log: EventEnvelope[]): string[] {
  const members = new Set<string>();
  /** Why each user who is out is out: the event that took them out. */
  const outBy = new Map<string, string>();
  let archivedBy: string | undefined;
  const problems: string[] = [];
  for (const e of log) {
    const data = e.event.data as {
      userId?: string;
      authorId?: string;
      messageId?: string;
      members?: { userId: string }[];
    };
    const at = `${e.type}@${e.seq}`;
    switch (e.type) {
      case "RoomCreated":
        for (const m of data.members ?? []) members.add(m.userId);
        break;
      case "MemberJoined":
        members.add(data.userId!);
        outBy.delete(data.userId!);
        break;
      case "MemberLeft":
      case "MemberRemoved":
      case "MemberBanned":
        members.delete(data.userId!);
        outBy.set(data.userId!, at);
        break;
      case "RoomArchived":
        archivedBy = at;
        break;
      case "MessagePosted": {
        const author = data.authorId!;
        const what = `MessagePosted ${data.messageId}@${e.seq} by ${author}`;
        if (!members.has(author)) problems.push(`${what}, not a member (${outBy.get(author) ?? "never joined"})`);
        if (archivedBy !== undefined) problems.push(`${what}, into the room archived by ${archivedBy}`);
        break;
      }
      default:
        break;
    }
  }
  return problems;
}

/** One `msg.post` a test sent, and what it was answered. */
export type SentPost = { user: string; commandId: string; reply: CommandReply };

/**
 * What is wrong between the posts answered and the `MessagePosted` events of `log`: each post
 * answered ok must be in the log exactly once, by its author, at the answered sequence and with the
 * answered messageId; a post refused must have appended nothing; and no `MessagePosted` may be in
 * the log that no post was answered ok for. `refusals` are the error codes a refusal may carry.
 */
export function postProblems(log: EventEnvelope[], sent: SentPost[], refusals: readonly string[]): string[] {
  const posted = log.filter((e) => e.type === "MessagePosted");
  const byCommand = new Map<string, EventEnvelope[]>();
  for (const e of posted) byCommand.set(e.commandId, [...(byCommand.get(e.commandId) ?? []), e]);
  const problems: string[] = [];
  for (const s of sent) {
    const events = byCommand.get(s.commandId) ?? [];
    if (!s.reply.ok) {
      if (!refusals.includes(s.reply.error.code))
        problems.push(`post ${s.commandId} by ${s.user} refused with ${s.reply.error.code}: ${s.reply.error.message}`);
      if (events.length > 0)
        problems.push(
          `post ${s.commandId} by ${s.user} refused (${s.reply.error.code}) but in the log at ${events.map((e) => e.seq).join(", ")}`,
        );
      continue;
    }
    if (events.length !== 1) {
      problems.push(
        `post ${s.commandId} by ${s.user} answered ok (seq ${s.reply.seq}) is in the log ${events.length} times`,
      );
      continue;
    }
    const e = events[0]!;
    const messageId = (e.event.data as { messageId: string }).messageId;
    if (e.seq !== s.reply.seq)
      problems.push(`post ${s.commandId} answered seq ${s.reply.seq} but its event is at ${e.seq}`);
    if (e.actor !== s.user) problems.push(`post ${s.commandId} by ${s.user} is in the log by ${e.actor}`);
    if (s.reply.result["messageId"] !== messageId)
      problems.push(
        `post ${s.commandId} answered messageId ${String(s.reply.result["messageId"])}, the log has ${messageId}`,
      );
  }
  const answered = new Set(sent.filter((s) => s.reply.ok).map((s) => s.commandId));
  for (const e of posted)
    if (!answered.has(e.commandId))
      problems.push(`MessagePosted@${e.seq} (command ${e.commandId} by ${e.actor}) was never answered ok`);
  return problems;
}
