import { auditProjection } from "./audit/projection.ts";
import { membersProjection } from "./members/projection.ts";
import type { Projection } from "./projection.ts";
import { roomsProjection } from "./rooms/projection.ts";
import { threadsProjection } from "./threads/projection.ts";
import { timelineProjection } from "./timeline/projection.ts";

/** Every projection natter runs, by name. */
export const PROJECTIONS: ReadonlyMap<string, Projection> = new Map(
  [roomsProjection, timelineProjection, auditProjection, membersProjection, threadsProjection].map((p) => [p.name, p]),
);

/** The projection called `name`; throws with the known names otherwise. */
export function projectionNamed(name: string): Projection {
  const p = PROJECTIONS.get(name);
  if (p === undefined) throw new Error(`unknown projection "${name}": known are ${[...PROJECTIONS.keys()].join(", ")}`);
  return p;
}
