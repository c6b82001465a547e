// Messages and subscriptions.

import { SlowConsumer } from './errors.js';

/** @typedef {import('./protocol.js').MsgHeaders} MsgHeaders */

/** A message delivered to a subscription. */
export class Msg {
  /**
   * @param {import('./client.js').Client} client
   * @param {{subject: string, sid: string, reply: string|null, payload: Buffer, headers?: MsgHeaders, status?: number|null, description?: string|null}} f
   */
  constructor(client, f) {
    this._client = client;
    /** the concrete subject it was published on */
    this.subject = f.subject;
    this.sid = f.sid;
    /** @type {string|null} where a responder answers */
    this.reply = f.reply;
    /** @type {Buffer} */
    this.data = f.payload;
    /** @type {MsgHeaders|null} */
    this.headers = f.headers ?? null;
    /** @type {number|null} a status from the header line (503: no responders) */
    this.status = f.status ?? null;
    /** @type {string|null} */
    this.description = f.description ?? null;
  }
  /** The payload as UTF-8 text. */
  string() {
    return this.data.toString('utf8');
  }
  /** The payload parsed as JSON. */
  json() {
    return JSON.parse(this.data.toString('utf8'));
  }
  /**
   * Publishes an answer to the message's reply subject.
   * @param {unknown} [data] @param {{headers?: any}} [opts]
   * @returns {boolean} false when the message has no reply subject
   */
  respond(data, opts = {}) {
    if (!this.reply) return false;
    this._client.publish(this.reply, data, { headers: opts.headers });
    return true;
  }
}

/**
 * A subscription: an async iterator of Msg (`for await (const m of sub)`), or a callback.
 * Messages are buffered until read, up to `maxPendingMsgs` messages and `maxPendingBytes` payload
 * bytes: past either, messages are dropped (counted in `dropped`) and the client emits a
 * SlowConsumer `error`. It ends on `unsubscribe()`, after `max` messages, when the client closes,
 * or when the server refuses it (a PermissionError: the iterator rejects with it, a callback is
 * called with it); it survives reconnects (the client subscribes again).
 */
export class Subscription {
  /**
   * @param {import('./client.js').Client} client
   * @param {number} sid
   * @param {string} subject
   * @param {{queue?: string, max?: number, callback?: (err: Error|null, msg: Msg|null) => void, maxPendingMsgs?: number, maxPendingBytes?: number}} opts
   */
  constructor(client, sid, subject, opts) {
    this._client = client;
    this.sid = sid;
    this.subject = subject;
    this.queue = opts.queue;
    /** messages received so far (dropped ones included: the server counts them towards `max` too) */
    this.received = 0;
    /** messages dropped because too many were unread (see maxPendingMsgs, maxPendingBytes) */
    this.dropped = 0;
    /** @type {number|undefined} the subscription ends after this many messages in total */
    this.max = opts.max;
    this.callback = opts.callback;
    /** the most messages kept unread; more are dropped */
    this.maxPendingMsgs = opts.maxPendingMsgs ?? Infinity;
    /** the most payload bytes kept unread; more are dropped (one message is kept whatever its size) */
    this.maxPendingBytes = opts.maxPendingBytes ?? Infinity;
    this.isClosed = false;
    /** @type {Msg[]} */
    this._buffer = [];
    this._bufferedBytes = 0;
    /** dropping messages now: the next drop is not reported again until one is kept */
    this._dropping = false;
    /** @type {{resolve: (r: IteratorResult<Msg>) => void, reject: (e: Error) => void}[]} */
    this._waiters = [];
    /** @type {Error|null} */
    this._error = null;
    /** @type {() => void} */
    let resolveClosed = () => {};
    /** Resolves when the subscription has ended. */
    this.closed = new Promise((r) => (resolveClosed = r));
    this._resolveClosed = resolveClosed;
  }

  /**
   * Stops the subscription: at once, or after it has delivered `max` messages in total.
   * @param {number} [max]
   */
  unsubscribe(max) {
    this._client._unsubscribe(this, max);
  }

  /** Messages received and not yet read. */
  get pending() {
    return this._buffer.length;
  }

  /** Payload bytes of the messages received and not yet read. */
  get pendingBytes() {
    return this._bufferedBytes;
  }

  /** @param {Msg} msg @internal */
  _deliver(msg) {
    if (this.isClosed) return;
    this.received += 1;
    if (this.callback) {
      try {
        this.callback(null, msg);
      } catch (err) {
        this._client._listenerThrew(`the callback of subscription ${this.sid} to ${this.subject}`, err);
      }
    } else {
      const w = this._waiters.shift();
      if (w) {
        this._dropping = false;
        w.resolve({ value: msg, done: false });
      } else if (this._buffer.length >= this.maxPendingMsgs || (this._buffer.length > 0 && this._bufferedBytes + msg.data.length > this.maxPendingBytes)) {
        this.dropped += 1;
        if (!this._dropping) {
          this._dropping = true;
          const why = this._buffer.length >= this.maxPendingMsgs ? `${this._buffer.length} messages (maxPendingMsgs)` : `${this._bufferedBytes} bytes (maxPendingBytes ${this.maxPendingBytes})`;
          this._client._asyncError(new SlowConsumer(this.subject, this.sid, why));
        }
      } else {
        this._dropping = false;
        this._buffer.push(msg);
        this._bufferedBytes += msg.data.length;
      }
    }
    if (this.max !== undefined && this.received >= this.max) this._client._finishSubscription(this);
  }

  /** @param {Error|null} [err] @internal */
  _end(err = null) {
    if (this.isClosed) return;
    this.isClosed = true;
    this._error = err;
    if (err && this.callback) {
      try {
        this.callback(err, null);
      } catch (e) {
        this._client._listenerThrew(`the callback of subscription ${this.sid} to ${this.subject}`, e);
      }
    }
    for (const w of this._waiters.splice(0)) {
      if (err) w.reject(err);
      else w.resolve({ value: undefined, done: true });
    }
    this._resolveClosed();
  }

  /** @returns {AsyncIterator<Msg>} */
  [Symbol.asyncIterator]() {
    return {
      next: () => {
        if (this._buffer.length > 0) {
          const msg = /** @type {Msg} */ (this._buffer.shift());
          this._bufferedBytes -= msg.data.length;
          return Promise.resolve({ value: msg, done: false });
        }
        if (this.isClosed) return this._error ? Promise.reject(this._error) : Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => this._waiters.push({ resolve, reject }));
      },
      return: () => {
        this.unsubscribe();
        this._buffer.length = 0;
        this._bufferedBytes = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
