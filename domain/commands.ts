import type { z } from "zod";
import type { AggregateKind } from "./events.ts";
import { messageCommandBodies } from "./message/commands.ts";
import { roomCommandBodies } from "./room/commands.ts";
import { userCommandBodies } from "./user/commands.ts";

type ActionDefinition = { readonly aggregate: AggregateKind; readonly action: string; readonly body: z.ZodType };

function actions(aggregate: AggregateKind, prefix: string, bodies: Record<string, z.ZodType>): [string, ActionDefinition][] {
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
