import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import { ulid } from "ulid";
import type { CommandReply } from "../commands/index.ts";

/** Sends a command as `userId` (on `admincmd.` with `admin`) and resolves with the parsed reply. */
export async function sendCommand(
  nc: NatsConnection,
  userId: string,
  action: string,
  body: Record<string, unknown>,
  options: { admin?: boolean; commandId?: string; headers?: MsgHdrs; timeout?: number } = {},
): Promise<CommandReply> {
  const subject = `${options.admin ? "admincmd" : "cmd"}.${userId}.${action}`;
  const payload = JSON.stringify({ commandId: options.commandId ?? ulid(), ...body });
  const reply = await nc.request(subject, payload, {
    timeout: options.timeout ?? 10_000,
    ...(options.headers ? { headers: options.headers } : {}),
  });
  return reply.json<CommandReply>();
}

/** Like sendCommand, but throws with the error when the reply is not ok; resolves with result and seq. */
export async function mustSend(
  nc: NatsConnection,
  userId: string,
  action: string,
  body: Record<string, unknown>,
  options: { admin?: boolean; commandId?: string } = {},
): Promise<{ result: Record<string, unknown>; seq: number }> {
  const r = await sendCommand(nc, userId, action, body, options);
  if (!r.ok)
    throw new Error(
      `${action} by ${userId} failed: ${r.error.code}: ${r.error.message} ${JSON.stringify(r.error.details ?? {})}`,
    );
  return r;
}
