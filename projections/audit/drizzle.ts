// The tables drizzle-kit generates this projection's migrations from (npm run db:generate).
import { bookkeepingTables } from "../common.ts";
import { auditTables } from "./tables.ts";

const { schema, ...tables } = auditTables("natter_audit");
export const natterSchema = schema;
export const { checkpoint, parked } = bookkeepingTables("natter_audit");
export const { eventLog } = tables;
