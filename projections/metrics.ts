import { Counter, Gauge, Registry } from "prom-client";

/** The projection metrics, registered once per registry. */
export type ProjectionMetrics = {
  lagEvents: Gauge<"projection">;
  lagSeconds: Gauge<"projection">;
  applied: Counter<"projection">;
  parked: Gauge<"projection">;
  active: Gauge<"projection">;
  halted: Gauge<"projection">;
  failures: Counter<"projection">;
};

const byRegistry = new WeakMap<Registry, ProjectionMetrics>();

/** The projection metrics of `registry` (created on first use). */
export function projectionMetrics(registry: Registry): ProjectionMetrics {
  let m = byRegistry.get(registry);
  if (m !== undefined) return m;
  const registers = [registry];
  m = {
    lagEvents: new Gauge({
      name: "natter_projection_lag_events",
      help: "Events in the log the projection has not applied yet",
      labelNames: ["projection"],
      registers,
    }),
    lagSeconds: new Gauge({
      name: "natter_projection_lag_seconds",
      help: "Age of the oldest event the projection has not applied yet",
      labelNames: ["projection"],
      registers,
    }),
    applied: new Counter({
      name: "natter_projection_events_applied_total",
      help: "Events applied",
      labelNames: ["projection"],
      registers,
    }),
    parked: new Gauge({
      name: "natter_projection_parked_events",
      help: "Events parked (failed or held)",
      labelNames: ["projection"],
      registers,
    }),
    active: new Gauge({
      name: "natter_projection_active",
      help: "1 when this instance is the active one",
      labelNames: ["projection"],
      registers,
    }),
    halted: new Gauge({
      name: "natter_projection_halted",
      help: "1 while the projection stands halted at a poison event (replay failures --retry or --skip)",
      labelNames: ["projection"],
      registers,
    }),
    failures: new Counter({
      name: "natter_projection_failures_total",
      help: "Times the projector failed (database or NATS) and started again",
      labelNames: ["projection"],
      registers,
    }),
  };
  byRegistry.set(registry, m);
  return m;
}
