import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { sql } from "drizzle-orm";
import { PROJECTIONS } from "../projections/catalog.ts";
import { ident, query, type Db } from "../projections/db.ts";

/** Every row of every live read model, table by table, in the order of its key; and every KV bucket's entries. */
export type ReadModelSnapshot = Record<string, unknown[]>;

/**
 * Reads every live PostgreSQL table of every projection (rows ordered by the table's key), their
 * checkpoints and parked events (without the wall-clock columns), and the KV projections' buckets
 * (entries ordered by key).
 */
export async function snapshotReadModels(nc: NatsConnection, db: Db): Promise<ReadModelSnapshot> {
  const out: ReadModelSnapshot = {};
  for (const p of PROJECTIONS.values()) {
    if (p.kind === "pg") {
      const s = ident(p.liveSchema);
      for (const t of p.tables) {
        out[`${p.liveSchema}.${t.name}`] = await query(
          db,
          sql`SELECT * FROM ${s}.${ident(t.name)} ORDER BY ${sql.raw(t.orderBy)}`,
        );
      }
      out[`${p.liveSchema}.checkpoint`] = await query(
        db,
        sql`SELECT projection, version, seq FROM ${s}.checkpoint ORDER BY projection`,
      );
      out[`${p.liveSchema}.parked`] = await query(
        db,
        sql`SELECT seq, subject, type, status, error, attempts FROM ${s}.parked ORDER BY seq`,
      );
    } else {
      const kvm = new Kvm(nc);
      for (const b of p.buckets) {
        const kv = await kvm.open(b);
        const entries: [string, string][] = [];
        for await (const k of await kv.keys()) {
          const e = await kv.get(k);
          if (e !== null && e.operation === "PUT") entries.push([k, e.string()]);
        }
        out[`kv.${b}`] = entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      }
    }
  }
  return out;
}
