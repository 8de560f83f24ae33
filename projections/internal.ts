/**
 * The projection runtime's own names and mechanics, for the tools that look into it or run it
 * directly: the replay tool's `list` (checkpoints, consumers, lease holders) and the benchmarks (a
 * Projector and a rebuild in their own process). The rest of the system uses index.ts.
 */
export { openCheckpointBucket } from "./kvCheckpoint.ts";
export { Lease, openLockBucket } from "./lock.ts";
export { rebuildPg } from "./maintenance.ts";
export { consumerName, leaseKey } from "./names.ts";
export { prepareSchema } from "./pgStore.ts";
export { Projector } from "./projector.ts";
export type { ProjectorOptions, ProjectorStatus } from "./projector.ts";
