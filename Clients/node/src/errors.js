// Error classes thrown or used by docketd-client.

// A cycle (protocol.js imports this file), which is safe: the two are only called when a handler's
// error is made, long after both modules have loaded.
import { formatDuration, positiveDuration } from './protocol.js';

/** Base class of every error this library creates. */
export class DocketClientError extends Error {
  /** @param {string} message @param {ErrorOptions} [options] */
  constructor(message, options) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A job command was refused by the server: `-ERR '<CODE> <message>'`. The connection stays open.
 * `code` is one of `BAD_QUEUE`, `BAD_OPTION`, `BAD_ID`, `NOT_FOUND`, `NOT_HELD`, `NOT_DEAD`,
 * `NOT_DELAYED`, `STORE_FULL`, `LIMIT` (a configured limit such as `--max-queues`), `FORBIDDEN`
 * (the connection's credentials do not allow the verb), `UNAVAILABLE` (the job store cannot be
 * reached: send the command again), or a code a later server adds (passed through as is).
 */
export class DocketError extends DocketClientError {
  /** @param {string} code @param {string} message */
  constructor(code, message) {
    super(message ? `${code} ${message}` : code);
    /** @type {string} */
    this.code = code;
    /** The server's text after the code. @type {string} */
    this.serverMessage = message;
  }
}

/** `BAD_QUEUE`: the queue name is missing or not valid. */
export class BadQueue extends DocketError {}
/** `BAD_OPTION`: an option is unknown, repeated, or its value is out of range. */
export class BadOption extends DocketError {}
/** `BAD_ID`: the job id is not a number. */
export class BadId extends DocketError {}
/** `NOT_FOUND`: no job (or route, or schedule) has this id or name: never existed, deleted, or removed by retention. */
export class NotFound extends DocketError {}
/** `NOT_HELD`: the job is not active under a lease this connection holds (or not in that attempt any more). */
export class NotHeld extends DocketError {}
/** `NOT_DEAD`: RETRY of a job that is not dead. */
export class NotDead extends DocketError {}
/** `NOT_DELAYED`: PROMOTE of a job that is not delayed. */
export class NotDelayed extends DocketError {}
/** `STORE_FULL`: the store is too full to take this (nothing changed). */
export class StoreFull extends DocketError {}
/** `LIMIT`: a configured limit was reached (`--max-queues`, `--max-schedules`, `--max-waiting-requests`). */
export class LimitReached extends DocketError {}
/** `FORBIDDEN`: the user's job rights do not grant the command on the queue concerned. */
export class Forbidden extends DocketError {}
/**
 * `UNAVAILABLE`: the job store (PostgreSQL) cannot be reached. Nothing was promised: the command
 * may or may not have been made, and can be sent again (with a `key` for an ENQ, to be safe).
 */
export class Unavailable extends DocketError {}

/** @type {Record<string, typeof DocketError>} */
const JOB_ERROR_CLASSES = {
  BAD_QUEUE: BadQueue,
  BAD_OPTION: BadOption,
  BAD_ID: BadId,
  NOT_FOUND: NotFound,
  NOT_HELD: NotHeld,
  NOT_DEAD: NotDead,
  NOT_DELAYED: NotDelayed,
  STORE_FULL: StoreFull,
  LIMIT: LimitReached,
  FORBIDDEN: Forbidden,
  UNAVAILABLE: Unavailable,
};

/**
 * The DocketError for a job error code: its own subclass for the codes of PROTOCOL.md, a plain
 * DocketError for a code a later server adds.
 * @param {string} code @param {string} message
 * @returns {DocketError}
 */
export function jobError(code, message) {
  const Class = Object.hasOwn(JOB_ERROR_CLASSES, code) ? JOB_ERROR_CLASSES[code] : DocketError;
  return new Class(code, message);
}

/** The connection broke while a command was waiting for its reply (it may or may not have run). */
export class ConnectionLost extends DocketClientError {
  constructor(message = 'connection lost before the reply arrived', options) {
    super(message, options);
    this.code = 'CONNECTION_LOST';
  }
}

/**
 * No connection could be made to the server: nothing listens on the port (`ECONNREFUSED`), the
 * host is unknown (`ENOTFOUND`, `EAI_AGAIN`) or unreachable, or the connection was reset during the
 * handshake. Node's error is its `cause`, and its system code is this error's `code` (as for
 * the error Node gives); `CONNECT_ERROR` when it has none. `connect()` rejects with it; while
 * reconnecting it is the client's `lastError` (the client keeps trying).
 */
export class ConnectError extends DocketClientError {
  /** @param {string} message @param {ErrorOptions} [options] */
  constructor(message, options) {
    super(message, options);
    const code = /** @type {{code?: unknown}|undefined} */ (options?.cause)?.code;
    /** @type {string} */
    this.code = typeof code === 'string' && code !== '' ? code : 'CONNECT_ERROR';
  }
}

/** The client was closed with `close()`; the command was not (or no longer) sent. */
export class ConnectionClosed extends DocketClientError {
  constructor(message = 'connection closed', options) {
    super(message, options);
    this.code = 'CONNECTION_CLOSED';
  }
}

/** The server sent bytes that break the protocol; the connection is dropped. */
export class ProtocolError extends DocketClientError {
  constructor(message, options) {
    super(message, options);
    this.code = 'PROTOCOL_ERROR';
  }
}

/**
 * A NATS-level `-ERR` from the server (`'Invalid Subject'`), or an `-ERR` without a job error code
 * that answers a job command (a command is always answered in order, so it fails with the text).
 */
export class ServerError extends DocketClientError {
  /** @param {string} text the text inside the quotes */
  constructor(text) {
    super(text);
    this.code = 'SERVER_ERROR';
    this.text = text;
  }
}

/**
 * The server refused the connection's credentials (`-ERR 'Authorization Violation'`): wrong ones,
 * or none given to a server that requires them. Retrying with the same credentials cannot help.
 * `connect()` rejects with it at once; while reconnecting it is emitted as `error` and the client
 * keeps trying with its backoff. The message never contains the password or token.
 */
export class AuthorizationError extends ServerError {
  /** @param {string} message @param {string} [text] the server's -ERR text */
  constructor(message, text = 'Authorization Violation') {
    super(text);
    this.message = message;
    this.code = 'AUTHORIZATION_VIOLATION';
  }
}

/**
 * The server refused a publish or a subscription for this connection's user (nats-server's
 * `-ERR 'Permissions Violation for Subscription to "<subject>"'`, `… for Publish to "<subject>"`).
 * The connection stays open. It is emitted as `error`; a subscription it names ends with it
 * (its iterator rejects with it) and a `request()` to a subject it names rejects with it.
 */
export class PermissionError extends ServerError {
  /**
   * @param {string} text the server's -ERR text
   * @param {'publish'|'subscribe'|'unknown'} operation
   * @param {string|null} subject
   * @param {string|null} [queue]
   */
  constructor(text, operation, subject, queue = null) {
    super(text);
    this.code = 'PERMISSIONS_VIOLATION';
    /** @type {'publish'|'subscribe'|'unknown'} */
    this.operation = operation;
    /** @type {string|null} */
    this.subject = subject;
    /** @type {string|null} the queue group of a refused subscription */
    this.queue = queue;
  }
}

/**
 * TLS could not be set up: the server does not offer it (the client asked for TLS: a `tls://`
 * url, `tls` options or `tlsHandshakeFirst`), or the handshake failed (an untrusted or
 * mismatching server certificate, a client certificate the server refused or did not get). The
 * underlying error, with Node's own code (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`,
 * `ERR_TLS_CERT_ALTNAME_INVALID`, …), is its `cause`.
 */
export class TlsError extends DocketClientError {
  /** @param {string} message @param {ErrorOptions} [options] */
  constructor(message, options) {
    super(message, options);
    this.code = 'TLS_ERROR';
  }
}

/** A request was published, and the server said no subscription received it (status 503). */
export class NoResponders extends DocketClientError {
  /** @param {string} subject */
  constructor(subject) {
    super(`no responders for ${subject}`);
    this.code = 'NO_RESPONDERS';
    this.subject = subject;
  }
}

/**
 * A client-side timeout ran out (request(), flush(), a command past `commandTimeoutMs`). A command
 * that timed out after it was written (`sent` true) may or may not have happened (an ENQ may have
 * created its job: enqueue again with the same `key`); one that timed out before it could be
 * written (`sent` false: the client was not connected, or its output was backed up) was not sent,
 * and never will be.
 */
export class TimeoutError extends DocketClientError {
  /** @param {string} [message] @param {{call?: string, timeoutMs?: number, sent?: boolean}} [details] */
  constructor(message = 'timed out', details = {}) {
    super(message);
    this.code = 'TIMEOUT';
    /** the call that timed out (`enqueue`, `ack`, …), when it was a command */
    this.call = details.call;
    this.timeoutMs = details.timeoutMs;
    /** for a command: whether it had been written to the server (undefined for other timeouts) */
    this.sent = details.sent;
  }
}

/**
 * Output is backed up: more than `maxBufferedOutputBytes` wait to be written to a server that is
 * not reading fast enough (or not at all), and the outbox that holds what comes after them
 * (`maxOutboxBytes`) is full too. Nothing of the call was sent; the connection stays.
 */
export class BufferFull extends DocketClientError {
  /** @param {string} message @param {{bufferedBytes?: number, limit?: number}} [details] */
  constructor(message, details = {}) {
    super(message);
    this.code = 'BUFFER_FULL';
    /** bytes waiting to be written (socket buffer and outbox) when it was refused */
    this.bufferedBytes = details.bufferedBytes;
    /** the limit that was reached */
    this.limit = details.limit;
  }
}

/**
 * A subscription's unread messages reached its limit (`maxPending` messages or `maxPendingBytes`
 * payload bytes): the messages that came after were dropped. Emitted as the client's `error`
 * once each time a subscription starts dropping; `subscription.dropped` counts them all.
 */
export class SlowConsumer extends DocketClientError {
  /** @param {string} subject @param {number} sid @param {string} why */
  constructor(subject, sid, why) {
    super(`slow consumer: subscription ${sid} to ${subject} has ${why} unread; dropping messages until it is read`);
    this.code = 'SLOW_CONSUMER';
    this.subject = subject;
    this.sid = sid;
  }
}

/** An argument given to a client method is not valid; nothing was sent. */
export class InvalidArgument extends DocketClientError {
  constructor(message) {
    super(message);
    this.code = 'INVALID_ARGUMENT';
  }
}

/** Thrown by a worker handler: the job is dead at once (`FAIL <id> retry=no`). */
export class NonRetryableError extends Error {
  /** @param {string} message @param {ErrorOptions} [options] */
  constructor(message, options) {
    super(message, options);
    this.name = 'NonRetryableError';
  }
}

/** Thrown by a worker handler: retry after `delayMs` (`FAIL <id> retry=<ms>ms`) if attempts are left. */
export class RetryAfterError extends Error {
  /** @param {number} delayMs @param {string} [message] @param {ErrorOptions} [options] */
  constructor(delayMs, message = `retry after ${delayMs}ms`, options) {
    // Checked here, where the mistake is, rather than when the worker sends FAIL.
    formatDuration(delayMs, 'RetryAfterError delay');
    super(message, options);
    this.name = 'RetryAfterError';
    this.delayMs = delayMs;
  }
}

/**
 * Thrown by a worker handler when a downstream limit was hit (an HTTP 429, say): the job goes back
 * to waiting in its place **without using up an attempt**, and its queue (or, with
 * `{scope: 'group'}`, only the jobs of its group) starts nothing for `duration`
 * (`FAIL <id> attempt=<n> throttle=<duration> [scope=group]`).
 *
 * `duration` is a number of **seconds**, as an HTTP `Retry-After` header gives it (`new Throttle(30)`
 * → `throttle=30s`), or a duration string sent as written (`'250ms'`, `'2m'`).
 */
export class Throttle extends Error {
  /**
   * @param {number|string} duration seconds, or a string like "250ms", "30s", "2m"
   * @param {{scope?: 'queue'|'group', message?: string}} [opts] scope default 'queue'
   * @param {ErrorOptions} [options]
   */
  constructor(duration, opts = {}, options) {
    // Checked here, where the mistake is, rather than when the worker sends FAIL.
    try {
      if (typeof duration !== 'number' && typeof duration !== 'string') throw new TypeError();
      positiveDuration(throttleWire(duration), 'Throttle duration');
    } catch {
      throw new InvalidArgument(`Throttle duration must be seconds or a duration like "250ms", "30s", longer than zero and at most 366 days (got ${typeof duration === 'string' ? JSON.stringify(duration) : String(duration)})`);
    }
    const scope = opts?.scope ?? 'queue';
    if (scope !== 'queue' && scope !== 'group') throw new InvalidArgument(`Throttle scope must be "queue" or "group" (got ${JSON.stringify(scope)})`);
    super(opts.message ?? `throttled for ${typeof duration === 'number' ? `${duration}s` : duration}`, options);
    this.name = 'Throttle';
    /** as given: seconds, or a duration string */
    this.duration = duration;
    /** @type {'queue'|'group'} */
    this.scope = scope;
  }

  /** The `throttle=` value: `<n>s` for a whole number of seconds, else milliseconds; a string as is. */
  get wire() {
    return throttleWire(this.duration);
  }
}

/** A throttle's duration as the encoder takes it: seconds become `<n>s` or `<n>ms`. @param {number|string} d */
function throttleWire(d) {
  if (typeof d !== 'number') return d;
  if (!Number.isFinite(d) || d < 0) return String(d); // refused by the encoder (InvalidArgument)
  return Number.isInteger(d) ? `${d}s` : `${Math.round(d * 1000)}ms`;
}
