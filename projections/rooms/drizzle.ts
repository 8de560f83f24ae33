// The tables drizzle-kit generates this projection's migrations from (npm run db:generate).
import { bookkeepingTables } from "../common.ts";
import { roomsTables } from "./tables.ts";

const { schema, ...tables } = roomsTables("natter_rooms");
export const natterSchema = schema;
export const { checkpoint, parked } = bookkeepingTables("natter_rooms");
export const { rooms, members, invites, bans, users } = tables;
