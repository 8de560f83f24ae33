/**
 * What the other folders use of projections/: the read models, starting the projectors and the live
 * parts, the database, read-your-writes and its announcements, and the maintenance work. The
 * runtime's own names and mechanics, for the replay tool and the benchmarks, are in internal.ts.
 */
export { appliedSubject } from "./announcements.ts";
export type { AppliedAnnouncement } from "./announcements.ts";
export { auditFromLog, auditFromReadModel } from "./audit/query.ts";
export type { AuditFilter, AuditRow } from "./audit/query.ts";
export { PROJECTIONS, projectionNamed } from "./catalog.ts";
export { openDatabase, query } from "./db.ts";
export type { Database, Db, OpenDatabaseOptions } from "./db.ts";
export { startLive } from "./live/live.ts";
export type { LiveOptions } from "./live/live.ts";
export type { LiveFanout } from "./live/fanout.ts";
export { presenceStatuses, startPresence } from "./live/presence.ts";
export type { Presence, PresenceOptions } from "./live/presence.ts";
export { MaintenanceError, rebuild, resolveFailures, verify } from "./maintenance.ts";
export type { Difference, FailureResult, MaintenanceDeps, MaintenanceProgress, RebuildResult } from "./maintenance.ts";
export type { PoisonPolicy } from "./parking.ts";
export { listParked, parkedState, readCheckpoint } from "./pgStore.ts";
export type { Checkpoint, ParkedEvent } from "./pgStore.ts";
export type { PgProjection, Projection } from "./projection.ts";
export { appliedAt, waitForApplied } from "./readYourWrites.ts";
export { startProjections } from "./service.ts";
export type { ProjectionService, ProjectionServiceOptions } from "./service.ts";
export { timelineProjection } from "./timeline/projection.ts";
