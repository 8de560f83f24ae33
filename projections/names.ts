/**
 * The names a projection's runtime state goes by in NATS: the buckets, and the consumer and keys
 * of each projection. The projector, the maintenance work (rebuild, verify) and the replay tool
 * find each other's state by these.
 */

/** The bucket of projection leases and control keys. */
export const LOCK_BUCKET = "natter_locks";
/** The bucket where KV projections keep their checkpoints. */
export const KV_CHECKPOINTS = "natter_checkpoints";

/** The consumer of a projection. */
export const consumerName = (name: string): string => `natter_${name}`;
/** The lease key of a projection, and the key that asks its active instance to step aside. */
export const leaseKey = (name: string): string => `projection.${name}`;
export const yieldKey = (name: string): string => `yield.${name}`;
