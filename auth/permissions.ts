import type { Permissions } from "@nats-io/jwt";
import type { ServiceName } from "./keys.ts";

/** A realm role as natter uses it: `admin`, `user`, or `none` (signed in, no role). */
export type RealmRole = "admin" | "user" | "none";

/** The largest message a user connection may publish, in bytes (a command is at most 64 KiB). */
export const USER_MAX_PAYLOAD = 64 * 1024;
/** The most subscriptions one user connection may hold. */
export const USER_MAX_SUBS = 500;

/** The inbox prefix a user's connection must use: `_INBOX.<userId>`. */
export const userInboxPrefix = (userId: string): string => `_INBOX.${userId}`;

/**
 * A user's NATS permissions by realm role (README, "NATS sign-in: the auth callout"): publish only on their own
 * `cmd.<uid>.>` (`admin`: also `admincmd.<uid>.>`; no role: only `cmd.<uid>.user.profile`) and
 * `q.<uid>.>` (`admin`: also `adminq.<uid>.>`), and the presence and typing subjects of their own; subscribe only to their own
 * `deliver.<uid>.>`, the public rooms' `live.room.*` and their own inbox `_INBOX.<uid>.>`;
 * one reply per request. Everything else is denied, explicitly for the sensitive subjects.
 */
export function userPermissions(userId: string, role: RealmRole): Permissions {
  const pub =
    role === "none"
      ? [`cmd.${userId}.user.profile`, `q.${userId}.>`, `presence.${userId}`]
      : [
          `cmd.${userId}.>`,
          `q.${userId}.>`,
          `presence.${userId}`,
          `typing.${userId}.>`,
          ...(role === "admin" ? [`admincmd.${userId}.>`, `adminq.${userId}.>`] : []),
        ];
  // Allow wins over deny only where a subject is allowed and not denied: keep the user's own
  // subjects out of the deny patterns by denying others' explicitly instead of wildcards that cover them.
  const denyPub = [
    "ev.>",
    "$JS.>",
    "$KV.>",
    "$SYS.>",
    "$O.>",
    "_INBOX.>",
    "natter.>",
    "live.>",
    "deliver.>",
    ...(role === "admin" ? [] : ["admincmd.>", "adminq.>"]),
  ];
  return {
    pub: { allow: pub, deny: denyPub },
    sub: {
      allow: [`deliver.${userId}.>`, "live.room.*", `${userInboxPrefix(userId)}.>`],
      deny: [
        "ev.>",
        "$JS.>",
        "$KV.>",
        "$SYS.>",
        "$O.>",
        "natter.>",
        "cmd.>",
        "admincmd.>",
        "q.>",
        "adminq.>",
        "presence.>",
        "typing.>",
      ],
    },
    resp: { max: 1, ttl: 0 },
  };
}

/** A service account's permissions: only what that part of natter needs. */
export function servicePermissions(name: ServiceName): Permissions {
  const inbox = `_INBOX_${name}.>`;
  const js = [
    "$JS.API.INFO",
    "$JS.API.STREAM.INFO.*",
    "$JS.API.STREAM.CREATE.*",
    "$JS.API.STREAM.NAMES",
    "$JS.API.DIRECT.GET.>",
    "$JS.API.STREAM.MSG.GET.*",
  ];
  const kv = (buckets: string[]) =>
    buckets.flatMap((b) => [
      `$KV.${b}.>`,
      `$JS.API.STREAM.INFO.KV_${b}`,
      `$JS.API.STREAM.CREATE.KV_${b}`,
      `$JS.API.DIRECT.GET.KV_${b}.>`,
      `$JS.API.CONSUMER.*.KV_${b}.>`,
      `$JS.API.CONSUMER.*.KV_${b}`,
    ]);
  switch (name) {
    case "commands":
      return {
        pub: { allow: [...js, "ev.>", ...kv(["snapshots", "commands", "members", "user_rooms"]), inbox] },
        sub: { allow: ["cmd.>", "admincmd.>", "svccmd.>", inbox] },
        resp: { max: 1, ttl: 0 },
      };
    case "identity":
      // The auth callout records the names tokens give (identityNames.ts), and nothing else.
      return { pub: { allow: ["svccmd.*.user.identity", inbox] }, sub: { allow: [inbox] } };
    case "projections":
      return {
        pub: {
          allow: [
            ...js,
            "$JS.API.CONSUMER.>",
            "$JS.ACK.>",
            "$JS.FC.>",
            "natter.projection.>",
            "live.>",
            "deliver.>",
            ...kv([
              "members",
              "user_rooms",
              "thread_participants",
              "natter_locks",
              "natter_checkpoints",
              "snapshots",
              "commands",
              "presence",
            ]),
            // The parts that hold leases raise the lease bucket's TTL to NATTER_PROJECTION_LEASE_MS
            // (projections/lock.ts); this also allows any other change to that one stream's settings.
            "$JS.API.STREAM.UPDATE.KV_natter_locks",
            inbox,
          ],
        },
        // The live part (fan-out, typing, presence) runs with the projectors.
        sub: { allow: [inbox, "typing.*.*", "presence.*"] },
      };
    case "replay":
      return {
        // natter.projection.>: a rebuild's swap and `failures --retry` announce themselves, so
        // that the read API drops what it holds of the projection.
        // natter.replay.maintenance.*: the CLI asks a natter on embedded PGlite to do its database
        // work (replay/maintenanceService.ts), and that natter takes the requests with this account.
        pub: {
          allow: [
            "$JS.API.>",
            "$JS.ACK.>",
            "$JS.FC.>",
            "$KV.>",
            "natter.projection.>",
            "natter.replay.maintenance.*",
            inbox,
          ],
        },
        sub: { allow: [inbox, "natter.projection.>", "natter.replay.maintenance.*"] },
      };
    case "gateway":
      return {
        pub: {
          allow: [
            "cmd.>",
            "admincmd.>",
            "q.>",
            "adminq.>",
            "live.>",
            "deliver.>",
            ...js,
            ...kv(["members", "user_rooms", "read_markers", "presence", "natter_checkpoints"]),
            inbox,
          ],
        },
        // The read API: queries over NATS in queue group `read-api`.
        sub: { allow: [inbox, "natter.projection.>", "live.>", "deliver.>", "q.>", "adminq.>"] },
        resp: { max: 1, ttl: 0 },
      };
  }
}

/** The inbox prefix a service connection must use: `_INBOX_<name>`. */
export const serviceInboxPrefix = (name: ServiceName): string => `_INBOX_${name}`;
