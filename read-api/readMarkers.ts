import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { sql } from "drizzle-orm";
import { query, type Db } from "../projections/index.ts";
import { readableRoom, type Caller } from "./access.ts";
import type { Input, Output } from "./schemas.ts";
import { seqOfMessage } from "./timelineQueries.ts";

/** The KV bucket of read markers, keyed `<userId>.<roomId>`. */
export const READ_MARKERS_BUCKET = "read_markers";

/**
 * Read markers: how far each user has read each room. Not events (a marker moves with every glance
 * at a room): kept in KV, moved forward only by compare-and-set, and written through to PostgreSQL
 * (`natter_read.read_markers`), where unread counts and read-by answers are computed.
 */
export class ReadMarkers {
  private constructor(
    private readonly db: Db,
    private readonly kv: KV,
  ) {}

  /** Opens the bucket and creates the table if they are missing. */
  static async open(nc: NatsConnection, db: Db, options: { replicas?: number } = {}): Promise<ReadMarkers> {
    const kv = await new Kvm(nc).create(READ_MARKERS_BUCKET, {
      history: 1,
      replicas: options.replicas ?? 1,
      description: "natter: read markers <user>.<room>",
    });
    await db.execute(sql`CREATE SCHEMA IF NOT EXISTS natter_read`);
    await db.execute(sql`CREATE TABLE IF NOT EXISTS natter_read.read_markers (
      user_id text NOT NULL, room_id text NOT NULL, seq bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (user_id, room_id))`);
    await db.execute(sql`CREATE INDEX IF NOT EXISTS read_markers_room_seq ON natter_read.read_markers (room_id, seq)`);
    return new ReadMarkers(db, kv);
  }

  /**
   * Moves the caller's marker in a room they may read to `seq` (clamped to the room's last
   * message), never back: answers the marker as it now is.
   */
  async mark(caller: Caller, q: Input<"markRead">): Promise<Output<"markRead">> {
    await readableRoom(this.db, caller, q.roomId);
    const last = await query<{ seq: string | number | null }>(
      this.db,
      sql`SELECT max(seq) AS seq FROM natter_timeline.messages WHERE room_id = ${q.roomId}`,
    );
    const target = Math.min(q.seq, Number(last[0]?.seq ?? 0));
    const key = `${caller.userId}.${q.roomId}`;
    let now = 0;
    for (let attempt = 0; ; attempt++) {
      const entry = await this.kv.get(key);
      now = entry === null || entry.operation !== "PUT" ? 0 : Number(entry.string());
      if (now >= target) break;
      try {
        if (entry === null || entry.operation !== "PUT") await this.kv.create(key, String(target));
        else await this.kv.update(key, String(target), entry.revision);
        now = target;
        break;
      } catch (err) {
        // Another request moved it at the same moment: read again and decide again.
        if (attempt >= 8) throw err;
      }
    }
    if (now > 0) {
      await this.db
        .execute(sql`INSERT INTO natter_read.read_markers (user_id, room_id, seq) VALUES (${caller.userId}, ${q.roomId}, ${now})
        ON CONFLICT (user_id, room_id) DO UPDATE SET seq = GREATEST(natter_read.read_markers.seq, EXCLUDED.seq), updated_at = now()`);
    }
    return { roomId: q.roomId, seq: now };
  }

  /** The room's members who have read up to the message (its author included once they have). */
  async readBy(caller: Caller, q: Input<"readBy">): Promise<Output<"readBy">> {
    await readableRoom(this.db, caller, q.roomId);
    const seq = await seqOfMessage(this.db, q.roomId, q.messageId);
    const rows = await query<{ user_id: string }>(
      this.db,
      sql`SELECT rm.user_id FROM natter_read.read_markers rm
          JOIN natter_rooms.room_members m ON m.room_id = rm.room_id AND m.user_id = rm.user_id
          WHERE rm.room_id = ${q.roomId} AND rm.seq >= ${seq} ORDER BY rm.user_id`,
    );
    return { userIds: rows.map((r) => r.user_id) };
  }
}
