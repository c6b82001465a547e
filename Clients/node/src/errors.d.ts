// Type declarations of the error classes of docketd-client (re-exported by the main entry point).

/** The codes a job command can be refused with (`DocketError.code`); a later server may add others. */
export type DocketErrorCode =
  | 'BAD_QUEUE'
  | 'BAD_OPTION'
  | 'BAD_ID'
  | 'NOT_FOUND'
  | 'NOT_HELD'
  | 'NOT_DEAD'
  | 'NOT_DELAYED'
  | 'STORE_FULL'
  | 'LIMIT'
  | 'FORBIDDEN'
  | 'UNAVAILABLE'
  | (string & {});

/** Base class of every error this library creates. */
export declare class DocketClientError extends Error {
  constructor(message: string, options?: ErrorOptions);
  code?: string;
}

/** A job command refused by the server (`-ERR '<CODE> <message>'`); the connection stays open. */
export declare class DocketError extends DocketClientError {
  constructor(code: string, message: string);
  code: DocketErrorCode;
  /** The server's text after the code. */
  serverMessage: string;
}

/** `BAD_QUEUE`: the queue name is missing or not valid. */
export declare class BadQueue extends DocketError {}
/** `BAD_OPTION`: an option is unknown, repeated, or out of range. */
export declare class BadOption extends DocketError {}
/** `BAD_ID`: the job id is not a number. */
export declare class BadId extends DocketError {}
/** `NOT_FOUND`: no job (or route, or schedule) has this id or name. */
export declare class NotFound extends DocketError {}
/** `NOT_HELD`: the job is not active under a lease this connection holds, or not in that attempt. */
export declare class NotHeld extends DocketError {}
/** `NOT_DEAD`: RETRY of a job that is not dead. */
export declare class NotDead extends DocketError {}
/** `NOT_DELAYED`: PROMOTE of a job that is not delayed. */
export declare class NotDelayed extends DocketError {}
/** `STORE_FULL`: the store is too full to take this. */
export declare class StoreFull extends DocketError {}
/** `LIMIT`: a configured limit was reached (`--max-queues`, `--max-schedules`, `--max-waiting-requests`). */
export declare class LimitReached extends DocketError {}
/** `FORBIDDEN`: the user's job rights do not grant the command on the queue concerned. */
export declare class Forbidden extends DocketError {}
/** `UNAVAILABLE`: the job store (PostgreSQL) cannot be reached; nothing was promised, send the command again. */
export declare class Unavailable extends DocketError {}

/** The DocketError (subclass) for a job error code. */
export declare function jobError(code: string, message: string): DocketError;

/** The connection broke while a command waited for its reply (it may or may not have happened). */
export declare class ConnectionLost extends DocketClientError {
  constructor(message?: string, options?: ErrorOptions);
  code: 'CONNECTION_LOST';
}

/**
 * No connection could be made (refused, unknown or unreachable host, reset during the handshake).
 * `cause` is Node's error; `code` its system code (`ECONNREFUSED`, `ENOTFOUND`, …), or `CONNECT_ERROR`.
 */
export declare class ConnectError extends DocketClientError {
  constructor(message: string, options?: ErrorOptions);
  code: string;
}

/** The client was closed with `close()`; the command was not (or no longer) sent. */
export declare class ConnectionClosed extends DocketClientError {
  constructor(message?: string, options?: ErrorOptions);
  code: 'CONNECTION_CLOSED';
}

/** The server sent bytes that break the protocol; the connection is dropped. */
export declare class ProtocolError extends DocketClientError {
  constructor(message: string, options?: ErrorOptions);
  code: 'PROTOCOL_ERROR';
}

/** A NATS `-ERR` that answers no command (emitted as `error`, or the reason a connect failed), or an `-ERR` without a job error code that answers a job command (its rejection). */
export declare class ServerError extends DocketClientError {
  constructor(text: string);
  code: 'SERVER_ERROR' | 'AUTHORIZATION_VIOLATION' | 'PERMISSIONS_VIOLATION';
  /** The text inside the quotes. */
  text: string;
}

/** The server refused the credentials (`-ERR 'Authorization Violation'`); never contains them. */
export declare class AuthorizationError extends ServerError {
  constructor(message: string, text?: string);
  code: 'AUTHORIZATION_VIOLATION';
}

/** nats-server's (and docketd's) `Permissions Violation for Publish/Subscription to "<subject>"`. */
export declare class PermissionError extends ServerError {
  constructor(text: string, operation: 'publish' | 'subscribe' | 'unknown', subject: string | null, queue?: string | null);
  code: 'PERMISSIONS_VIOLATION';
  operation: 'publish' | 'subscribe' | 'unknown';
  subject: string | null;
  /** The queue group of a refused subscription. */
  queue: string | null;
}

/** TLS could not be set up: the server does not offer it, or the handshake failed (`cause` has Node's error). */
export declare class TlsError extends DocketClientError {
  constructor(message: string, options?: ErrorOptions);
  code: 'TLS_ERROR';
}

/** A request reached no subscriber (status 503). */
export declare class NoResponders extends DocketClientError {
  constructor(subject: string);
  code: 'NO_RESPONDERS';
  subject: string;
}

/**
 * A client-side timeout ran out. A command that timed out after it was written (`sent` true) may
 * or may not have happened; one that timed out before it could be written (`sent` false) was not
 * sent and never will be.
 */
export declare class TimeoutError extends DocketClientError {
  constructor(message?: string, details?: { call?: string; timeoutMs?: number; sent?: boolean });
  code: 'TIMEOUT';
  /** The call that timed out (`enqueue`, `ack`, …), when it was a command. */
  call: string | undefined;
  timeoutMs: number | undefined;
  /** For a command: whether it had been written to the server (undefined for other timeouts). */
  sent: boolean | undefined;
}

/**
 * Output is backed up: `maxBufferedOutputBytes` wait to be written to a server that does not read
 * fast enough, and the outbox behind them (`maxOutboxBytes`) is full too. Nothing was sent.
 */
export declare class BufferFull extends DocketClientError {
  constructor(message: string, details?: { bufferedBytes?: number; limit?: number });
  code: 'BUFFER_FULL';
  /** Bytes waiting to be written (socket buffer and outbox) when it was refused. */
  bufferedBytes: number | undefined;
  /** The limit that was reached. */
  limit: number | undefined;
}

/**
 * A subscription's unread messages reached `maxPending` messages or `maxPendingBytes` payload
 * bytes, and the messages after were dropped. Emitted as the client's `error`, once each time a
 * subscription starts dropping; `subscription.dropped` counts them.
 */
export declare class SlowConsumer extends DocketClientError {
  constructor(subject: string, sid: number, why: string);
  code: 'SLOW_CONSUMER';
  subject: string;
  sid: number;
}

/** An argument the client can check is not valid; nothing was sent. */
export declare class InvalidArgument extends DocketClientError {
  constructor(message: string);
  code: 'INVALID_ARGUMENT';
}

/** Thrown by a worker handler: the job is dead at once (`retry=no`). */
export declare class NonRetryableError extends Error {
  constructor(message: string, options?: ErrorOptions);
}

/** Thrown by a worker handler: retry after `delayMs` if attempts are left. */
export declare class RetryAfterError extends Error {
  constructor(delayMs: number, message?: string, options?: ErrorOptions);
  delayMs: number;
}

/**
 * Thrown by a worker handler on a downstream limit: back to waiting without using up an attempt;
 * the queue (or, with `{scope: 'group'}`, the job's group) starts nothing for `duration`
 * (a number of **seconds**, as a Retry-After header gives it, or a duration string).
 */
export declare class Throttle extends Error {
  constructor(duration: number | string, opts?: { scope?: 'queue' | 'group'; message?: string }, options?: ErrorOptions);
  duration: number | string;
  scope: 'queue' | 'group';
  /** The `throttle=` value sent. */
  readonly wire: string;
}
