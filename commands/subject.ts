import { COMMANDS, ID_PATTERN, InvalidError, type Privilege, type UserId } from "../domain/index.ts";

/** What a command subject says: who acts, with which privilege, and which action. */
export type CommandSubject = { privilege: Exclude<Privilege, "none">; userId: UserId; action: string };

/** The subject prefixes of commands and the privilege each carries (NATS permissions say who may publish on which). */
const PREFIXES: Readonly<Record<string, CommandSubject["privilege"]>> = {
  cmd: "user",
  admincmd: "admin",
  svccmd: "service",
};

/**
 * Reads `cmd.<userId>.<aggregate>.<action>` (the `user` privilege),
 * `admincmd.<userId>.<aggregate>.<action>` (`admin`) or `svccmd.<userId>.<aggregate>.<action>`
 * (`service`: natter's services for the user). Throws InvalidError for any other shape, an id
 * outside the id alphabet or an unknown action.
 */
export function parseCommandSubject(subject: string): CommandSubject {
  const parts = subject.split(".");
  const [prefix, userId, aggregate, action] = parts;
  const privilege = prefix === undefined ? undefined : PREFIXES[prefix];
  if (parts.length !== 4 || privilege === undefined) {
    throw new InvalidError(
      "a command subject is cmd.<userId>.<aggregate>.<action> or admincmd.<userId>.<aggregate>.<action>",
      {
        details: { subject },
      },
    );
  }
  if (!ID_PATTERN.test(userId!))
    throw new InvalidError("the user id in the subject is not a valid id", { details: { subject } });
  const name = `${aggregate}.${action}`;
  if (!COMMANDS.has(name)) {
    throw new InvalidError(`unknown command "${name}"`, { details: { subject, known: [...COMMANDS.keys()] } });
  }
  return { privilege, userId: userId as UserId, action: name };
}
