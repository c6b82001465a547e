// docket-client: Node.js client for Docket (docketd).

export { Client, JobEvents, connect, VERSION } from './client.js';
export { Msg, Subscription } from './subscription.js';
export { Worker } from './worker.js';
export { MsgHeaders, commandBytes, durationMs, formatDuration, formatRate, replyDecoders } from './protocol.js';
export {
  AuthorizationError,
  ConnectionClosed,
  ConnectionLost,
  DocketClientError,
  DocketError,
  InvalidArgument,
  NoResponders,
  NonRetryableError,
  ProtocolError,
  RetryAfterError,
  Throttle,
  ServerError,
  TimeoutError,
} from './errors.js';
