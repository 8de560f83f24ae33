export { AggregateRepository, commandKey } from "./aggregates.ts";
export type { Aggregate, AggregateRepositoryOptions, AggregateSpec } from "./aggregates.ts";
export { CommandIndex } from "./commandIndex.ts";
export type { IndexedCommand } from "./commandIndex.ts";
export { connectNats } from "./connect.ts";
export type { ServiceCredentials } from "./connect.ts";
export { decodeConsumed, decodeEvent, encodeEvent, EnvelopeError, H, messageIdFor, postMessageId } from "./envelope.ts";
export type { EncodedEvent, EventEnvelope, EventMeta, HeaderPairs, RawStoredMessage } from "./envelope.ts";
export { EventStore, isWrongLastSequence } from "./eventStore.ts";
export type { AppendResult, EventStoreOptions } from "./eventStore.ts";
export {
  findNatsServerBinary,
  isSupportedNatsVersion,
  MIN_NATS_VERSION,
  startNatsServer,
  unsupportedVersionMessage,
} from "./natsServer.ts";
export type { NatsServer, NatsServerOptions } from "./natsServer.ts";
export {
  BUCKETS,
  openBucket,
  checkEventStream,
  DEFAULT_DUPLICATE_WINDOW_MS,
  ensureBuckets,
  ensureEventStream,
  eventStreamConfig,
  StreamConfigError,
} from "./setup.ts";
export type { BucketName, EventStreamOptions } from "./setup.ts";
export {
  EVENT_STREAM,
  EVENT_SUBJECTS,
  messageSubject,
  roomOfEventSubject,
  roomSubject,
  subjectOf,
  timelineFilter,
  userSubject,
} from "./subjects.ts";
export { childTrace, isTraceparent, traceIdOf } from "./trace.ts";
export type { TraceContext } from "./trace.ts";
export { isInbox, NoReplyError, Requests, RequestTimeoutError } from "./requests.ts";
export { scanLog, seqAtTime } from "./scan.ts";
export type { ScanOptions, ScanProgress } from "./scan.ts";
