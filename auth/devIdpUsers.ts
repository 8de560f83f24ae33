import { createHash, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { ID_PATTERN } from "../domain/index.ts";

/** A user of the development identity provider. */
export interface DevUser {
  /** The token's `sub`: a UUID derived from the username, so it is the same on every start and machine. */
  id: string;
  username: string;
  password: string;
  /** Realm roles, as Keycloak puts them in `realm_access.roles`. */
  roles: string[];
}

/** The built-in users: alice (admin, user), bob (user) and charlie (no role), as the README lists them. */
export const BUILT_IN_USERS: ReadonlyArray<Omit<DevUser, "id">> = [
  { username: "alice", password: "alice123", roles: ["admin", "user"] },
  { username: "bob", password: "bob123", roles: ["user"] },
  { username: "charlie", password: "charlie123", roles: [] },
];

/** The shape of a users file: `[{ "username": "load1", "password": "pw", "roles": ["user"] }]`; `id` is optional. */
const usersFileSchema = z.array(
  z.object({
    username: z.string().min(1).max(255),
    password: z.string().min(1).max(1024),
    roles: z.array(z.string().min(1).max(64)).max(32).default([]),
    id: z.string().regex(ID_PATTERN).optional(),
  }),
);

// A fixed namespace for natter's UUIDv5 subjects (RFC 9562, section 5.5).
const SUBJECT_NAMESPACE = Buffer.from("6e617474-6572-4d6f-8e74-7573657273a1".replaceAll("-", ""), "hex");

/** The stable subject of a development user: a name-based UUID (version 5) of the username. */
export function subjectFor(username: string): string {
  const h = createHash("sha1").update(SUBJECT_NAMESPACE).update(username, "utf8").digest().subarray(0, 16);
  h.writeUInt8((h.readUInt8(6) & 0x0f) | 0x50, 6);
  h.writeUInt8((h.readUInt8(8) & 0x3f) | 0x80, 8);
  const x = h.toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** The users the development IdP knows: by id and by username, with a constant-time password check. */
export class DevUserDirectory {
  readonly #byId = new Map<string, DevUser>();
  readonly #byName = new Map<string, DevUser>();

  constructor(users: ReadonlyArray<Omit<DevUser, "id"> & { id?: string | undefined }>) {
    for (const u of users) {
      if (this.#byName.has(u.username)) throw new Error(`development IdP: user ${u.username} is defined twice`);
      const user: DevUser = {
        id: u.id ?? subjectFor(u.username),
        username: u.username,
        password: u.password,
        roles: [...u.roles],
      };
      if (this.#byId.has(user.id)) throw new Error(`development IdP: user id ${user.id} is defined twice`);
      this.#byId.set(user.id, user);
      this.#byName.set(user.username, user);
    }
  }

  /** The built-in users plus those of `usersFile` (a JSON array), if given. */
  static async load(usersFile?: string): Promise<DevUserDirectory> {
    if (usersFile === undefined) return new DevUserDirectory(BUILT_IN_USERS);
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(usersFile, "utf8"));
    } catch (err) {
      throw new Error(`development IdP: cannot read the users file ${usersFile}: ${(err as Error).message}`);
    }
    const parsed = usersFileSchema.safeParse(raw);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      throw new Error(
        `development IdP: the users file ${usersFile} is invalid at ${first?.path.join(".") ?? "?"}: ${first?.message ?? ""}`,
      );
    }
    return new DevUserDirectory([...BUILT_IN_USERS, ...parsed.data]);
  }

  byId(id: string): DevUser | undefined {
    return this.#byId.get(id);
  }

  /** The user when the password is theirs; undefined otherwise (unknown user or wrong password). */
  authenticate(username: string, password: string): DevUser | undefined {
    const user = this.#byName.get(username);
    // Compare digests, so the time taken says nothing about the password or whether the user exists.
    const expected = createHash("sha256")
      .update(user?.password ?? "\u0000no such user")
      .digest();
    const given = createHash("sha256").update(password).digest();
    return timingSafeEqual(expected, given) && user !== undefined ? user : undefined;
  }

  get size(): number {
    return this.#byId.size;
  }
}
