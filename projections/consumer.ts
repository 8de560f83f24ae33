import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  JetStreamApiError,
  type Consumer,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { EVENT_STREAM } from "../streams/index.ts";
import type { BoundedQueue } from "./boundedQueue.ts";
import type { ProjectionMetrics } from "./metrics.ts";
import { consumerName } from "./names.ts";
import type { Projection } from "./projection.ts";

/** Another process used this instance's consumer: pulled from it, or set it up at the same moment (see recreateConsumer). */
export class ConsumerSharedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ConsumerSharedError";
  }
}

/**
 * Deletes the projection's durable consumer and adds it again to deliver from `startAfter + 1`,
 * setting the lag metrics from what it has pending. The consumer is only a cursor: recreating it at
 * the checkpoint means nothing the previous holder took but did not apply waits for its ack
 * timeout. Throws ConsumerSharedError when JetStream refuses a step.
 */
export async function recreateConsumer(
  nc: NatsConnection,
  jsm: JetStreamManager,
  projection: Projection,
  startAfter: number,
  metrics: ProjectionMetrics,
): Promise<Consumer> {
  const name = consumerName(projection.name);
  try {
    await jsm.consumers.delete(EVENT_STREAM, name).catch(() => false);
    const info = await jsm.consumers.add(EVENT_STREAM, {
      durable_name: name,
      filter_subjects: [...projection.filterSubjects],
      ack_policy: AckPolicy.All,
      deliver_policy: startAfter > 0 ? DeliverPolicy.StartSequence : DeliverPolicy.All,
      ...(startAfter > 0 ? { opt_start_seq: startAfter + 1 } : {}),
      max_ack_pending: 20_000,
      ack_wait: 30_000_000_000,
      inactive_threshold: 0,
    });
    metrics.lagEvents.set({ projection: projection.name }, info.num_pending);
    if (info.num_pending === 0) metrics.lagSeconds.set({ projection: projection.name }, 0);
    return await jetstream(nc).consumers.get(EVENT_STREAM, name);
  } catch (err) {
    // An instance that lost its lease while paused here, resumed, deleted or recreated it meanwhile.
    if (err instanceof JetStreamApiError)
      throw new ConsumerSharedError(`the consumer of ${projection.name} could not be set up: ${err.message}`, {
        cause: err,
      });
    throw err;
  }
}

/**
 * Moves a new consumer's messages into `queue` in delivery order until the consumer stops (then
 * closes the queue) or a delivery is out of sequence (then fails it with ConsumerSharedError).
 * `name` is the projection's, for the error.
 */
export async function readInOrder(messages: ConsumerMessages, queue: BoundedQueue<JsMsg>, name: string): Promise<void> {
  let delivered = 0;
  try {
    for await (const m of messages) {
      // This consumer is new and only this instance should pull from it, so its deliveries come
      // numbered 1, 2, 3... A gap means another process pulled some: an instance that lost its
      // lease while paused, whose client re-pulled from the consumer of the same name. Going on
      // would skip the events it took (and acknowledging past them would drop them for good):
      // start over from the checkpoint with a new consumer.
      if (m.info.deliverySequence !== delivered + 1) {
        throw new ConsumerSharedError(
          `the consumer of ${name} delivered #${m.info.deliverySequence} where #${delivered + 1} was next: another process pulled from it`,
        );
      }
      delivered = m.info.deliverySequence;
      if (!(await queue.push(m))) return;
    }
    queue.close();
  } catch (err) {
    queue.fail(err);
  }
}
