import type { CommandId, UserId } from "./ids.ts";

/**
 * The realm privilege a command is decided with. `cmd.<uid>.…` subjects carry `user`,
 * `admincmd.<uid>.…` carry `admin`; `none` is a signed-in user without a realm role; `service`
 * is one of natter's own services acting for the user (`svccmd.<uid>.…`, which no user may
 * publish on), for what only it may know, such as the name the user's token gives.
 */
export type Privilege = "admin" | "user" | "none" | "service";

/**
 * Everything a decision needs from outside the domain: who acts, with which privilege, when, and
 * under which command id. The command service fills it in; the domain never reads a clock.
 */
export type CommandMeta = {
  readonly commandId: CommandId;
  readonly actor: UserId;
  readonly privilege: Privilege;
  /** The decision's time, ISO 8601. */
  readonly now: string;
};
