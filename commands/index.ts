export { CommandHandler, errorReply, MAX_COMMAND_BYTES, resultOf } from "./handler.ts";
export type { CommandHandlerOptions, CommandOutcome, CommandReply, CommandRequest } from "./handler.ts";
export { KeyedQueue } from "./keyedQueue.ts";
export { parseRateLimit, RateLimiter } from "../domain/index.ts";
export type { RateLimit } from "../domain/index.ts";
export { COMMAND_QUEUE, startCommandService } from "./service.ts";
export type { CommandService, CommandServiceOptions } from "./service.ts";
export { parseCommandSubject } from "./subject.ts";
export type { CommandSubject } from "./subject.ts";
