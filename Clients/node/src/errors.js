// Error classes thrown or used by docket-client.

/** Base class of every error this library creates. */
export class DocketClientError extends Error {
  /** @param {string} message @param {ErrorOptions} [options] */
  constructor(message, options) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A job command was refused by the server: `-ERR '<CODE> <message>'`.
 * `code` is one of `BAD_QUEUE`, `BAD_OPTION`, `BAD_ID`, `NOT_FOUND`, `NOT_HELD`, `NOT_DEAD`,
 * `STORE_FULL`, `FORBIDDEN` (the connection's credentials do not allow the verb; the connection
 * stays open), or a code a later server adds (passed through as is).
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

/** The connection broke while a command was waiting for its reply (it may or may not have run). */
export class ConnectionLost extends DocketClientError {
  constructor(message = 'connection lost before the reply arrived', options) {
    super(message, options);
    this.code = 'CONNECTION_LOST';
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

/** A NATS-level `-ERR` from the server that is not a reply to a job command. */
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
 * that timed out may or may not have happened (an ENQ may have created its job: enqueue again
 * with the same `key`).
 */
export class TimeoutError extends DocketClientError {
  /** @param {string} [message] @param {{call?: string, timeoutMs?: number}} [details] */
  constructor(message = 'timed out', details = {}) {
    super(message);
    this.code = 'TIMEOUT';
    /** the call that timed out (`enqueue`, `ack`, …), when it was a command */
    this.call = details.call;
    this.timeoutMs = details.timeoutMs;
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
    super(opts.message ?? `throttled for ${typeof duration === 'number' ? `${duration}s` : duration}`, options);
    this.name = 'Throttle';
    /** as given: seconds, or a duration string */
    this.duration = duration;
    /** @type {'queue'|'group'} */
    this.scope = opts.scope ?? 'queue';
  }

  /** The `throttle=` value: `<n>s` for a whole number of seconds, else milliseconds; a string as is. */
  get wire() {
    const d = this.duration;
    if (typeof d !== 'number') return d;
    if (!Number.isFinite(d) || d < 0) return String(d); // refused by the encoder (InvalidArgument)
    return Number.isInteger(d) ? `${d}s` : `${Math.round(d * 1000)}ms`;
  }
}
