import { Counter, Gauge, type Registry } from "prom-client";
import { ROUTE_KINDS, type Routes } from "./routes.ts";

/** The metrics of live delivery, registered once per registry. */
export type LiveMetrics = {
  /** Events handed to live delivery, by type (stored events, and `Typing`, `Presence`). */
  events: Counter<"type">;
  /** Messages published, by the kind of subject. */
  published: Counter<"route">;
  /** Stored events that could not be decoded or routed, skipped. */
  skipped: Counter<"reason">;
  /** How far behind the log live delivery is, in seconds (0 when caught up). */
  lagSeconds: Gauge;
  /** 1 while this instance is the active fan-out. */
  active: Gauge;
  /** Rooms and posts read from the log because they were not cached. */
  cacheMisses: Counter<"cache">;
};

/** The metric `name` of `registry`, made by `make` unless another fan-out registered it already. */
function shared<M>(registry: Registry, name: string, make: (registers: Registry[]) => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? make([registry]);
}

/** The live delivery metrics of `registry` (registered on first use; shared by every fan-out using it). */
export function liveMetrics(registry: Registry): LiveMetrics {
  const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
    shared(registry, name, (registers) => new Counter<L>({ name, help, labelNames, registers }));
  const gauge = (name: string, help: string) =>
    shared(registry, name, (registers) => new Gauge({ name, help, registers }));
  return {
    events: counter("natter_live_events_total", "Events delivered live, by type", ["type"]),
    published: counter("natter_live_messages_published_total", "Live messages published, by kind of subject", [
      "route",
    ]),
    skipped: counter("natter_live_events_skipped_total", "Stored events live delivery skipped, by reason", ["reason"]),
    lagSeconds: gauge(
      "natter_live_lag_seconds",
      "Age of the newest event live delivery has handled while more wait; 0 when caught up",
    ),
    active: gauge("natter_live_active", "1 when this instance is the active live fan-out"),
    cacheMisses: counter(
      "natter_live_cache_misses_total",
      "Rooms and posts read from the log because they were not cached",
      ["cache"],
    ),
  };
}

/** Counts one event's publications by kind (one increment per kind, not per message). */
export function countPublished(metrics: LiveMetrics, routes: Routes): void {
  for (const kind of ROUTE_KINDS) {
    const n = routes[kind].length;
    if (n > 0) metrics.published.inc({ route: kind }, n);
  }
}
