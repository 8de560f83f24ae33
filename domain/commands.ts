import type { z } from "zod";
import type { CommandMeta } from "./metadata.ts";
import type { MessageCommand } from "./message/commands.ts";
import type { RoomCommand } from "./room/commands.ts";
import type { UserCommand } from "./user/commands.ts";
import type { AggregateKind } from "./events.ts";
import { messageCommandBodies } from "./message/commands.ts";
import { roomCommandBodies } from "./room/commands.ts";
import { userCommandBodies } from "./user/commands.ts";

type ActionDefinition = { readonly aggregate: AggregateKind; readonly action: string; readonly body: z.ZodType };

function actions(
  aggregate: AggregateKind,
  prefix: string,
  bodies: Record<string, z.ZodType>,
): [string, ActionDefinition][] {
  return Object.entries(bodies).map(([action, body]) => [`${prefix}.${action}`, { aggregate, action, body }]);
}

/**
 * Every command, keyed by its subject suffix (`room.create`, `msg.post`, `user.profile`), with
 * the aggregate it changes and the zod schema of its body besides `commandId`.
 */
export const COMMANDS: ReadonlyMap<string, ActionDefinition> = new Map([
  ...actions("room", "room", roomCommandBodies),
  ...actions("msg", "msg", messageCommandBodies),
  ...actions("user", "user", userCommandBodies),
]);

/** A command parsed for its aggregate: the one place a body becomes a typed command. */
export type ParsedCommand =
  | { readonly aggregate: "room"; readonly command: RoomCommand }
  | { readonly aggregate: "msg"; readonly command: MessageCommand }
  | { readonly aggregate: "user"; readonly command: UserCommand };

/**
 * Parses the body (without `commandId`) of the command `action` (a key of COMMANDS) into the
 * typed command its decider takes, or the schema's error.
 *
 * @example parseCommand("msg.post", { roomId: "r1", body: "hi" }, meta) // { ok: true, parsed: { aggregate: "msg", command: { type: "post", … } } }
 */
export function parseCommand(
  action: string,
  body: unknown,
  meta: CommandMeta,
): { ok: true; parsed: ParsedCommand } | { ok: false; error: z.ZodError } {
  const definition = COMMANDS.get(action);
  if (definition === undefined) throw new Error(`unknown command ${action}`);
  const r = definition.body.safeParse(body);
  if (!r.success) return { ok: false, error: r.error };
  // The schema of `action` made `r.data`: it is that action's body, whatever the map's type says.
  const command = { type: definition.action, data: r.data, meta } as never;
  switch (definition.aggregate) {
    case "room":
      return { ok: true, parsed: { aggregate: "room", command } };
    case "msg":
      return { ok: true, parsed: { aggregate: "msg", command } };
    case "user":
      return { ok: true, parsed: { aggregate: "user", command } };
    default:
      throw new Error(`commands of ${definition.aggregate} are not handled here`);
  }
}
