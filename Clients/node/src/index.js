// docketd-client: Node.js client for Docket (docketd).

export { Client, JobEvents, connect, VERSION } from './client.js';
export { Msg, Subscription } from './subscription.js';
export { Worker } from './worker.js';
export { MsgHeaders, commandBytes, durationMs, formatDuration, formatRate, parseRoutedReply, replyDecoders } from './protocol.js';
export {
  AuthorizationError,
  BadId,
  BadOption,
  BadQueue,
  BufferFull,
  ConnectError,
  ConnectionClosed,
  ConnectionLost,
  DocketClientError,
  DocketError,
  Forbidden,
  InvalidArgument,
  LimitReached,
  NoResponders,
  NonRetryableError,
  NotDead,
  NotDelayed,
  NotFound,
  NotHeld,
  PermissionError,
  ProtocolError,
  RetryAfterError,
  Throttle,
  ServerError,
  SlowConsumer,
  StoreFull,
  TimeoutError,
  TlsError,
  Unavailable,
} from './errors.js';
