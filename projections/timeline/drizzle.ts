// The tables drizzle-kit generates this projection's migrations from (npm run db:generate).
import { bookkeepingTables } from "../common.ts";
import { timelineTables } from "./tables.ts";

const { schema, ...tables } = timelineTables("natter_timeline");
export const natterSchema = schema;
export const { checkpoint, parked } = bookkeepingTables("natter_timeline");
export const { messages, edits, reactions, threadParticipants, mentions, translations } = tables;
