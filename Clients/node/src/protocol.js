// The Docket wire protocol, pure and stateless: a streaming parser for what the server sends,
// encoders for what the client sends. No sockets here (see client.js), so it is easy to test on
// bytes (the client-conformance cases run against this module).

import { DocketError, InvalidArgument, ProtocolError, ServerError, jobError } from './errors.js';

const CR = 13;
const LF = 10;
const CRLF = Buffer.from('\r\n');
const EMPTY = Buffer.alloc(0);

// ---------------------------------------------------------------------------------------------
// Values

/**
 * Bytes of a payload: a Buffer / Uint8Array as is, a string as UTF-8, null/undefined as nothing,
 * an ArrayBuffer as its bytes, anything else as JSON.
 * @param {unknown} data
 * @returns {Buffer}
 */
export function toBytes(data) {
  if (data === undefined || data === null) return EMPTY;
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  let json;
  try {
    json = JSON.stringify(data);
  } catch (err) {
    // a BigInt, a circular structure, a toJSON that throws …
    throw new InvalidArgument(`cannot encode the value as JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (json === undefined) throw new InvalidArgument(`cannot encode a ${typeof data} as a payload (use a string, a Buffer or a JSON value)`);
  return Buffer.from(json, 'utf8');
}

const DURATION_RE = /^\d+(ms|s|m|h|d)?$/;
/** The longest duration the server reads: 366 days, in ms. */
const MAX_DURATION_MS = 366 * 86_400_000;
/** The largest number the server reads in most fields (at most 10 digits). */
const MAX_NUMBER = 9_999_999_999;

/**
 * A duration as the server reads it. A number of milliseconds is written in the canonical form
 * every Docket client uses: `<n>s` when it is a whole number of seconds, else `<n>ms` rounded to
 * the nearest millisecond (30000 → `30s`, 0 → `0s`, 1500 → `1500ms`). A string such as `250ms`,
 * `30s`, `5m`, `2h`, `1d` (or a bare number of seconds) is sent exactly as written.
 * @param {number|string} d
 * @param {string} what the option name, for error messages
 * @returns {string}
 */
export function formatDuration(d, what = 'duration') {
  if (typeof d === 'number') {
    if (!Number.isFinite(d) || d < 0) throw new InvalidArgument(`${what} must be a non-negative number of milliseconds`);
    if (Math.round(d) > MAX_DURATION_MS) throw new InvalidArgument(`${what} is longer than 366 days, the longest the server reads`);
    if (d % 1000 === 0) return `${d / 1000}s`;
    return `${Math.round(d)}ms`;
  }
  if (typeof d === 'string' && DURATION_RE.test(d) && d.replace(/\D+$/, '').length <= 12) {
    if (durationMs(d) > MAX_DURATION_MS) throw new InvalidArgument(`${what} ${JSON.stringify(d)} is longer than 366 days, the longest the server reads`);
    return d;
  }
  throw new InvalidArgument(`${what} must be milliseconds or a duration like "250ms", "30s", "5m" (got ${JSON.stringify(d)})`);
}

/**
 * A duration that must be longer than zero (a lease, a throttle, a rate's window).
 * @param {number|string} d @param {string} what
 * @returns {string}
 */
export function positiveDuration(d, what) {
  const text = formatDuration(d, what);
  if (durationMs(text) <= 0) throw new InvalidArgument(`${what} must be longer than zero`);
  return text;
}

/**
 * A number in plain decimal, without an exponent or trailing zeros (0.5, 1, 0.0000001).
 * @param {number} n
 */
export function plainDecimal(n) {
  const s = String(n);
  if (!/e/i.test(s)) return s;
  return n.toFixed(20).replace(/\.?0+$/, '');
}

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Milliseconds of a duration (number of ms, or a string like "250ms", "30s", "5m", "2h", "1d").
 * @param {number|string} d
 * @returns {number}
 */
export function durationMs(d) {
  if (typeof d === 'number') return d;
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(String(d));
  if (!m) throw new InvalidArgument(`not a duration: ${JSON.stringify(d)}`);
  return Number(m[1]) * UNIT_MS[m[2] ?? 's'];
}

/** @param {string} s */
function hasBlankOrControl(s) {
  return /[\s\x00-\x1f\x7f]/.test(s);
}

const LONE_SURROGATE_RE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * True when a string holds a lone UTF-16 surrogate: it has no UTF-8 form, and encoding it would
 * silently turn it into U+FFFD (another key, another subject).
 * @param {string} s
 */
export function hasLoneSurrogate(s) {
  return LONE_SURROGATE_RE.test(s);
}

/**
 * Refuses a string with a lone surrogate (see hasLoneSurrogate).
 * @param {string} s @param {string} what
 */
function wellFormed(s, what) {
  if (hasLoneSurrogate(s)) throw new InvalidArgument(`${what} holds a lone UTF-16 surrogate, which has no UTF-8 form (got ${JSON.stringify(s)})`);
  return s;
}

/**
 * A token sent in a control line (queue name, option value): non-empty, no blanks or control
 * bytes, no lone surrogates.
 * @param {unknown} v @param {string} what
 */
function token(v, what) {
  if (typeof v !== 'string' || v.length === 0 || hasBlankOrControl(v)) {
    throw new InvalidArgument(`${what} must be a non-empty string without blanks (got ${JSON.stringify(v)})`);
  }
  return wellFormed(v, what);
}

/**
 * Refuses option names a call does not know (a misspelt `atempts` would otherwise be ignored
 * without a word), and options that are not an object.
 * @param {unknown} opts @param {readonly string[]} known @param {string} what e.g. 'enqueue option'
 * @returns {Record<string, any>} the options ({} for undefined or null)
 */
export function checkOptionNames(opts, known, what) {
  if (opts === undefined || opts === null) return {};
  if (typeof opts !== 'object' || Array.isArray(opts)) throw new InvalidArgument(`${what}s must be an object (got ${JSON.stringify(opts)})`);
  for (const name of Object.keys(opts)) {
    if (!known.includes(name)) throw new InvalidArgument(`unknown ${what} ${JSON.stringify(name)} (the ${what}s are ${known.join(', ')})`);
  }
  return /** @type {Record<string, any>} */ (opts);
}

const QUEUE_RE = /^[A-Za-z0-9_-]{1,128}$/;

/** @param {unknown} q @returns {string} a valid queue name */
export function checkQueue(q) {
  if (typeof q !== 'string' || !QUEUE_RE.test(q)) {
    throw new InvalidArgument(`queue names are 1 to 128 of A-Z a-z 0-9 _ - (got ${JSON.stringify(q)})`);
  }
  return q;
}

/** @param {unknown} k @returns {string} a valid idempotency key */
function checkKey(k) {
  token(k, 'key');
  if (Buffer.byteLength(/** @type {string} */ (k), 'utf8') > 200) throw new InvalidArgument('key is longer than 200 bytes');
  return /** @type {string} */ (k);
}

/** @param {unknown} g @returns {string} a valid group name */
function checkGroup(g) {
  token(g, 'group');
  if (Buffer.byteLength(/** @type {string} */ (g), 'utf8') > 200) throw new InvalidArgument('group is longer than 200 bytes');
  return /** @type {string} */ (g);
}

/**
 * @param {unknown} n @param {string} what @param {number} min @param {number} max
 * @returns {string}
 */
function intInRange(n, what, min, max) {
  if (!Number.isSafeInteger(n) || /** @type {number} */ (n) < min || /** @type {number} */ (n) > max) {
    throw new InvalidArgument(`${what} must be an integer from ${min} to ${max} (got ${String(n)})`);
  }
  return String(n);
}

/**
 * A job id as sent: positive decimal digits.
 * @param {number|string|bigint} id
 * @returns {string}
 */
export function formatJobId(id) {
  const s = typeof id === 'bigint' ? id.toString() : typeof id === 'number' ? (Number.isSafeInteger(id) ? String(id) : '') : String(id ?? '');
  if (!/^[0-9]{1,19}$/.test(s) || /^0+$/.test(s)) throw new InvalidArgument(`job id must be a positive integer of at most 19 digits (got ${String(id)})`);
  return s;
}

/**
 * The ` attempt=<n>` option of ACK, FAIL, PROGRESS and TOUCH (the attempt the worker holds: the
 * server refuses the command with NOT_HELD when the job has moved on to another attempt), or ''.
 * @param {number|undefined|null} attempt
 * @returns {string}
 */
function attemptOption(attempt) {
  if (attempt === undefined || attempt === null) return '';
  return ` attempt=${intInRange(attempt, 'attempt', 1, MAX_NUMBER)}`;
}

/** @param {string} s @returns {boolean} a subject one can publish to (no wildcards) */
export function isValidPublishSubject(s) {
  if (typeof s !== 'string' || s.length === 0 || hasBlankOrControl(s) || hasLoneSurrogate(s)) return false;
  return s.split('.').every((t) => t.length > 0 && t !== '*' && t !== '>');
}

/** @param {string} s @returns {boolean} a subject one can subscribe to (wildcards allowed) */
export function isValidSubscribeSubject(s) {
  if (typeof s !== 'string' || s.length === 0 || hasBlankOrControl(s) || hasLoneSurrogate(s)) return false;
  const tokens = s.split('.');
  return tokens.every((t, i) => t.length > 0 && (t !== '>' || i === tokens.length - 1));
}

// ---------------------------------------------------------------------------------------------
// Headers

/**
 * NATS message headers: `[name, value]` pairs in order; names keep their case and may repeat.
 */
export class MsgHeaders {
  constructor() {
    /** @type {[string, string][]} */
    this.list = [];
  }
  /**
   * @param {MsgHeaders|[string, string][]|Map<string, string|string[]>|Record<string, string|string[]>|undefined|null} init
   *   pairs in order, or names with one value or a list of values
   * @returns {MsgHeaders}
   */
  static from(init) {
    if (init instanceof MsgHeaders) return init;
    const h = new MsgHeaders();
    if (!init) return h;
    if (Array.isArray(init)) {
      for (const pair of init) {
        if (!Array.isArray(pair) || pair.length !== 2) throw new InvalidArgument('headers must be [name, value] pairs');
        h.append(pair[0], pair[1]);
      }
      return h;
    }
    const entries = init instanceof Map ? init.entries() : Object.entries(init);
    for (const [k, v] of entries) {
      for (const one of Array.isArray(v) ? v : [v]) h.append(k, one);
    }
    return h;
  }
  /** @param {string} name @param {string} value */
  append(name, value) {
    if (typeof name !== 'string' || !/^[!-9;-~]+$/.test(name)) throw new InvalidArgument(`invalid header name ${JSON.stringify(name)}`);
    if (typeof value !== 'string') value = String(value);
    if (/[\r\n]/.test(value)) throw new InvalidArgument(`header value of ${name} contains CR or LF`);
    wellFormed(value, `header value of ${name}`);
    this.list.push([name, value]);
  }
  /** Replaces every value of `name`. @param {string} name @param {string} value */
  set(name, value) {
    this.delete(name);
    this.append(name, value);
  }
  /** @param {string} name */
  delete(name) {
    this.list = this.list.filter(([n]) => n !== name);
  }
  /** First value of a header; the name is matched exactly, else without regard to case. */
  get(name) {
    return this.getAll(name)[0];
  }
  /** @param {string} name @returns {string[]} */
  getAll(name) {
    const exact = this.list.filter(([n]) => n === name);
    if (exact.length > 0) return exact.map(([, v]) => v);
    const lower = name.toLowerCase();
    return this.list.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
  }
  has(name) {
    return this.getAll(name).length > 0;
  }
  /** number of header lines */
  get size() {
    return this.list.length;
  }
  /** @returns {IterableIterator<[string, string]>} */
  [Symbol.iterator]() {
    return this.list[Symbol.iterator]();
  }
  /** @returns {[string, string][]} */
  toJSON() {
    return this.list.map(([n, v]) => [n, v]);
  }
}

/**
 * The header block of an HPUB: `NATS/1.0\r\n` + `Name: Value\r\n` ... + `\r\n`.
 * @param {MsgHeaders} headers
 * @returns {Buffer}
 */
export function encodeHeaders(headers) {
  let s = 'NATS/1.0\r\n';
  for (const [name, value] of headers) s += `${name}: ${value}\r\n`;
  return Buffer.from(s + '\r\n', 'utf8');
}

/**
 * Parses a header block (`NATS/1.0[ <status>[ <description>]]\r\n...\r\n\r\n`).
 * @param {Buffer} block
 * @returns {{status: number|null, description: string|null, headers: MsgHeaders}}
 */
export function decodeHeaders(block) {
  const text = block.toString('utf8');
  if (!text.endsWith('\r\n\r\n')) throw new ProtocolError('header block does not end with an empty line');
  const lines = text.slice(0, -4).split('\r\n');
  const first = /^NATS\/1\.0(?:[ \t]+(\d{3})(?:[ \t]+(.*))?)?[ \t]*$/.exec(lines[0]);
  if (!first) throw new ProtocolError(`header block does not start with NATS/1.0: ${JSON.stringify(lines[0].slice(0, 40))}`);
  const headers = new MsgHeaders();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0 || /\n|\r/.test(line)) throw new ProtocolError(`malformed header line ${JSON.stringify(line.slice(0, 60))}`);
    const name = line.slice(0, colon);
    if (!/^[!-9;-~]+$/.test(name)) throw new ProtocolError(`malformed header name ${JSON.stringify(name)}`);
    headers.list.push([name, line.slice(colon + 1).replace(/^[ \t]+/, '')]);
  }
  const description = first[2]?.trim();
  return { status: first[1] ? Number(first[1]) : null, description: description ? description : null, headers };
}

// ---------------------------------------------------------------------------------------------
// Client → server: NATS core

/**
 * @param {Record<string, unknown>} options
 * @returns {Buffer}
 */
export function encodeConnect(options) {
  return Buffer.from(`CONNECT ${JSON.stringify(options)}\r\n`, 'utf8');
}

export const PING = Buffer.from('PING\r\n');
/** `CANCEL`: ends the wait of the RESERVE sent right before it. */
export const CANCEL = Buffer.from('CANCEL\r\n');
export const PONG = Buffer.from('PONG\r\n');

/**
 * PUB, or HPUB when there are headers.
 * @param {string} subject
 * @param {unknown} data
 * @param {{reply?: string, headers?: any}} [opts]
 * @returns {Buffer}
 */
export function encodePublish(subject, data, opts = {}) {
  if (!isValidPublishSubject(subject)) throw new InvalidArgument(`invalid publish subject ${JSON.stringify(subject)}`);
  const reply = opts.reply;
  if (reply !== undefined && reply !== null && !isValidPublishSubject(reply)) {
    throw new InvalidArgument(`invalid reply subject ${JSON.stringify(reply)}`);
  }
  const payload = toBytes(data);
  const head = reply ? `${subject} ${reply}` : subject;
  const headers = opts.headers ? MsgHeaders.from(opts.headers) : null;
  if (headers && headers.size > 0) {
    const block = encodeHeaders(headers);
    return Buffer.concat([
      Buffer.from(`HPUB ${head} ${block.length} ${block.length + payload.length}\r\n`, 'utf8'),
      block,
      payload,
      CRLF,
    ]);
  }
  return Buffer.concat([Buffer.from(`PUB ${head} ${payload.length}\r\n`, 'utf8'), payload, CRLF]);
}

/**
 * @param {string} subject @param {string|number} sid @param {{queue?: string}} [opts]
 * @returns {Buffer}
 */
export function encodeSub(subject, sid, opts = {}) {
  if (!isValidSubscribeSubject(subject)) throw new InvalidArgument(`invalid subject ${JSON.stringify(subject)}`);
  const queue = opts.queue !== undefined && opts.queue !== null ? ` ${token(opts.queue, 'queue group')}` : '';
  return Buffer.from(`SUB ${subject}${queue} ${token(String(sid), 'sid')}\r\n`, 'utf8');
}

/**
 * @param {string|number} sid @param {number} [max]
 * @returns {Buffer}
 */
export function encodeUnsub(sid, max) {
  if (max !== undefined && max !== null) {
    if (!Number.isSafeInteger(max) || max < 0) throw new InvalidArgument('max must be a non-negative integer');
    return Buffer.from(`UNSUB ${token(String(sid), 'sid')} ${max}\r\n`);
  }
  return Buffer.from(`UNSUB ${token(String(sid), 'sid')}\r\n`);
}

// ---------------------------------------------------------------------------------------------
// Client → server: jobs (Docket extensions). Each verb has an encoder here and a reply decoder
// below; a new verb is one more pair plus a thin method in client.js.

/**
 * A command line with an optional payload.
 * @param {string} line the control line without CRLF
 * @param {Buffer|null} [payload] appended as ` <#bytes>\r\n<payload>\r\n` when given
 * @returns {Buffer}
 */
export function commandBytes(line, payload) {
  if (payload === undefined || payload === null) return Buffer.from(`${line}\r\n`, 'utf8');
  return Buffer.concat([Buffer.from(`${line} ${payload.length}\r\n`, 'utf8'), payload, CRLF]);
}

/**
 * @typedef {object} EnqueueOptions
 * @property {number|string} [delay] run no sooner than this from now (ms, or "30s")
 * @property {Date|number} [at] run no sooner than this time (a Date, or unix seconds)
 * @property {number} [priority] lower runs first (-1000000..1000000)
 * @property {number} [attempts] most times the job may run (1..1000)
 * @property {string|{type:'fixed', delay:number|string}|{type:'exp', base:number|string, cap?:number|string}} [backoff]
 * @property {number} [jitter] 0..1
 * @property {number|string} [lease] how long a worker may hold the job without a heartbeat
 * @property {string} [key] idempotency key
 * @property {string} [group] the group (tenant, customer, API key) whose queue `group_rate` applies (1..200 bytes, no blanks)
 * @property {number|string} [ttl] not started within this long after the ENQ, the job is not run: it
 *   becomes dead (`ttl=`; longer than zero; not with `expires`)
 * @property {Date|number} [expires] the same by a time: a Date, or unix milliseconds (`expires=`, up
 *   to 15 digits; not with `ttl`). One already past makes the job dead at once
 * @property {Parent[]|Parent} [after] the job's parents (`after=`): it stays `blocked` until every one
 *   has completed. 1 to 100 job ids (numbers, decimal strings or BigInts), each once; inside
 *   `batch()` also `'#<n>'`, the n-th job of the same batch (from 1), which must come earlier
 * @property {'fail'|'run'} [onParentDead] when a parent dies or is deleted before completing: this
 *   job dies too (`fail`, the server's default) or counts it as done (`run`) (`on_parent_dead=`)
 * @property {number|string} [keyTtl] with `key`: remember the key at least this long after the ENQ,
 *   even once retention removed the job (`key_ttl=`; longer than zero)
 * @property {boolean} [replace] with `key`: a duplicate of a job still `waiting` or `delayed`
 *   replaces its payload and run time (debounce; `replace=true`); false sends nothing
 */

/**
 * A parent of a job (ENQ `after=`): a job id, or inside a batch `'#<n>'` (an earlier job of it).
 * @typedef {number|string|bigint} Parent
 */

/**
 * One job of `batch()`: the queue, the payload, and the options of `enqueue()`.
 * @typedef {EnqueueOptions & {queue: string, payload?: unknown}} BatchJob
 */

/**
 * A backoff as the server reads it: `fixed:<d>`, or `exp:<base>[:<cap>]` with a base longer than
 * zero and a cap not below it.
 * @param {EnqueueOptions['backoff']} b
 */
function formatBackoff(b) {
  let text;
  if (typeof b === 'string') text = b;
  else if (b && b.type === 'fixed') text = `fixed:${formatDuration(b.delay, 'backoff delay')}`;
  else if (b && b.type === 'exp') {
    const base = formatDuration(b.base, 'backoff base');
    text = b.cap === undefined ? `exp:${base}` : `exp:${base}:${formatDuration(b.cap, 'backoff cap')}`;
  } else {
    throw new InvalidArgument('backoff must be "fixed:<d>", "exp:<base>[:<cap>]", {type:"fixed",delay} or {type:"exp",base,cap}');
  }
  const parts = text.split(':');
  const shaped = (parts[0] === 'fixed' && parts.length === 2) || (parts[0] === 'exp' && (parts.length === 2 || parts.length === 3));
  if (!shaped) throw new InvalidArgument(`backoff ${JSON.stringify(text)} is not fixed:<duration> or exp:<base>[:<cap>]`);
  for (const p of parts.slice(1)) formatDuration(p, 'backoff');
  if (parts[0] === 'exp') {
    const base = durationMs(parts[1]);
    if (base <= 0) throw new InvalidArgument(`backoff ${JSON.stringify(text)}: the base must be longer than zero`);
    if (parts.length === 3 && durationMs(parts[2]) < base) throw new InvalidArgument(`backoff ${JSON.stringify(text)}: the cap must not be below the base`);
  }
  return text;
}

/** The largest `expires=` the server reads: 15 digits of unix milliseconds. */
const MAX_EXPIRES = 999_999_999_999_999;

/** The most parents one job may have (`after=`). */
export const MAX_PARENTS = 100;

const BATCH_REF_RE = /^#([1-9][0-9]{0,9})$/;

/**
 * `after=`'s value: 1 to 100 parents, each once, comma-separated in the order given. Job ids are
 * written as ids; `'#<n>'` names the n-th job of the same batch and needs `position` (this job's
 * place in the batch, from 1; null for a lone ENQ), n below it.
 * @param {unknown} after @param {number|null} position
 * @returns {string}
 */
function formatParents(after, position) {
  const list = Array.isArray(after) ? after : [after];
  if (list.length === 0 || list.length > MAX_PARENTS) {
    throw new InvalidArgument(`after names 1 to ${MAX_PARENTS} jobs (got ${list.length})`);
  }
  const seen = new Set();
  const out = list.map((p) => {
    let text;
    const ref = typeof p === 'string' ? BATCH_REF_RE.exec(p) : null;
    if (ref) {
      if (position === null) throw new InvalidArgument(`after: ${p} names a job of the same batch, and a lone enqueue is not in one (use batch())`);
      if (Number(ref[1]) >= position) throw new InvalidArgument(`after: ${p} must name an earlier job of the batch (${position === 1 ? 'the first job has none' : `#1 to #${position - 1}`})`);
      text = p;
    } else {
      try {
        text = formatJobId(/** @type {number|string|bigint} */ (p));
      } catch {
        throw new InvalidArgument(`after: a parent is a job id (a positive integer of at most 19 digits)${position === null ? '' : ' or #<n>'} (got ${typeof p === 'string' ? JSON.stringify(p) : String(p)})`);
      }
      text = text.replace(/^0+/, '');
    }
    if (seen.has(text)) throw new InvalidArgument(`after names ${text} twice`);
    seen.add(text);
    return text;
  });
  return out.join(',');
}

const PARENT_DEATH = ['fail', 'run'];

/** The options of enqueue() (and of a batch job); routes and schedules take some of them. */
export const ENQUEUE_OPTIONS = Object.freeze(['delay', 'at', 'priority', 'attempts', 'backoff', 'jitter', 'lease', 'key', 'group', 'ttl', 'expires', 'after', 'onParentDead', 'keyTtl', 'replace']);

/**
 * The option fields of ENQ (and of ROUTE and SCHEDULE, which take the same ones but `after` and
 * `onParentDead`) in the order of PROTOCOL.md's table: `delay`, `at`, `pri`, `attempts`,
 * `backoff`, `jitter`, `lease`, `key`, `group`, `ttl`, `expires`, `after`, `on_parent_dead`,
 * `key_ttl`, `replace`.
 * @param {EnqueueOptions} opts
 * @param {{owner?: 'enqueue'|'route'|'schedule', position?: number|null}} [where] what the options
 *   go with (a route or a schedule makes a new job each time: it cannot wait for parents), and for
 *   an ENQ of a batch its place there (from 1), which lets `after` name `#<n>`
 * @returns {string[]}
 */
function enqueueFields(opts, where = {}) {
  const owner = where.owner ?? 'enqueue';
  const position = where.position ?? null;
  checkOptionNames(opts, ENQUEUE_OPTIONS, `${owner} option`);
  /** @type {string[]} */
  const out = [];
  if (opts.delay !== undefined && opts.at !== undefined) throw new InvalidArgument('delay and at cannot be used together');
  if (opts.ttl !== undefined && opts.expires !== undefined) throw new InvalidArgument('ttl and expires cannot be used together');
  if (opts.delay !== undefined) out.push(`delay=${formatDuration(opts.delay, 'delay')}`);
  if (opts.at !== undefined) {
    const at = opts.at instanceof Date ? Math.ceil(opts.at.getTime() / 1000) : opts.at;
    if (!Number.isSafeInteger(at) || /** @type {number} */ (at) < 0 || /** @type {number} */ (at) > MAX_NUMBER) {
      throw new InvalidArgument('at must be a Date or unix seconds (0 to 9999999999)');
    }
    out.push(`at=${at}`);
  }
  if (opts.priority !== undefined) out.push(`pri=${intInRange(opts.priority, 'priority', -1_000_000, 1_000_000)}`);
  if (opts.attempts !== undefined) out.push(`attempts=${intInRange(opts.attempts, 'attempts', 1, 1000)}`);
  if (opts.backoff !== undefined) out.push(`backoff=${formatBackoff(opts.backoff)}`);
  if (opts.jitter !== undefined) {
    if (typeof opts.jitter !== 'number' || !(opts.jitter >= 0 && opts.jitter <= 1)) throw new InvalidArgument('jitter must be a number from 0 to 1');
    out.push(`jitter=${plainDecimal(opts.jitter)}`);
  }
  if (opts.lease !== undefined) out.push(`lease=${positiveDuration(opts.lease, 'lease')}`);
  if (opts.key !== undefined) out.push(`key=${checkKey(opts.key)}`);
  if (opts.group !== undefined) out.push(`group=${checkGroup(opts.group)}`);
  if (opts.ttl !== undefined) out.push(`ttl=${positiveDuration(opts.ttl, 'ttl')}`);
  if (opts.expires !== undefined) {
    const ms = opts.expires instanceof Date ? opts.expires.getTime() : opts.expires;
    if (!Number.isSafeInteger(ms) || /** @type {number} */ (ms) < 0 || /** @type {number} */ (ms) > MAX_EXPIRES) {
      throw new InvalidArgument(`expires must be a Date or unix milliseconds (0 to ${MAX_EXPIRES}) (got ${String(opts.expires)})`);
    }
    out.push(`expires=${ms}`);
  }
  if (owner !== 'enqueue' && (opts.after !== undefined || opts.onParentDead !== undefined)) {
    throw new InvalidArgument(`a ${owner} cannot take after or onParentDead (each ${owner === 'route' ? 'message' : 'tick'} makes a new job, which cannot wait for others)`);
  }
  if (opts.after !== undefined) out.push(`after=${formatParents(opts.after, position)}`);
  if (opts.onParentDead !== undefined) {
    if (!PARENT_DEATH.includes(/** @type {string} */ (opts.onParentDead))) {
      throw new InvalidArgument(`onParentDead must be "fail" or "run" (got ${JSON.stringify(opts.onParentDead)})`);
    }
    out.push(`on_parent_dead=${opts.onParentDead}`);
  }
  if (opts.keyTtl !== undefined) {
    if (opts.key === undefined) throw new InvalidArgument('keyTtl needs key (it is how long the key is remembered)');
    out.push(`key_ttl=${positiveDuration(opts.keyTtl, 'keyTtl')}`);
  }
  if (opts.replace !== undefined) {
    if (typeof opts.replace !== 'boolean') throw new InvalidArgument(`replace must be true or false (got ${JSON.stringify(opts.replace)})`);
    if (opts.replace) {
      if (opts.key === undefined) throw new InvalidArgument('replace needs key (a duplicate of the key replaces the waiting job)');
      out.push('replace=true');
    }
  }
  return out;
}

/**
 * @param {string} queue @param {unknown} payload @param {EnqueueOptions} [opts]
 * @returns {Buffer}
 */
export function encodeEnqueue(queue, payload, opts = {}) {
  const line = ['ENQ', checkQueue(queue), ...enqueueFields(opts ?? {})].join(' ');
  return commandBytes(line, toBytes(payload));
}

/**
 * `BATCH <n>` and the n ENQs, as one buffer: the jobs are enqueued together, all or none. Every
 * job is checked first (as `encodeEnqueue` checks it, with its place in the batch for `'#<n>'`
 * parents), so one bad job throws InvalidArgument, naming it, before anything is made.
 * @param {BatchJob[]} jobs at least one: `{queue, payload, ...enqueue options}`
 * @param {{maxPayload?: number|null, maxControlLine?: number|null}} [limits] when given, a job whose
 *   payload or ENQ line is over it is refused too (the server's `max_payload`, `--max-control-line`)
 * @returns {Buffer}
 */
export function encodeBatch(jobs, limits = {}) {
  if (!Array.isArray(jobs) || jobs.length === 0) throw new InvalidArgument('a batch needs at least one job');
  const { maxPayload, maxControlLine } = limits ?? {};
  /** @type {Buffer[]} */
  const parts = [Buffer.from(`BATCH ${jobs.length}\r\n`)];
  jobs.forEach((job, i) => {
    try {
      if (job === null || typeof job !== 'object' || Array.isArray(job)) throw new InvalidArgument('a job is an object {queue, payload, ...enqueue options}');
      const { queue, payload, ...opts } = /** @type {BatchJob} */ (job);
      const bytes = toBytes(payload);
      if (typeof maxPayload === 'number' && bytes.length > maxPayload) throw new InvalidArgument(`payload of ${bytes.length} bytes is over the server's max_payload of ${maxPayload}`);
      const line = ['ENQ', checkQueue(queue), ...enqueueFields(opts, { position: i + 1 })].join(' ');
      if (typeof maxControlLine === 'number' && maxControlLine > 0 && Buffer.byteLength(line, 'utf8') + 1 + String(bytes.length).length > maxControlLine) {
        throw new InvalidArgument(`its ENQ line is over the limit of ${maxControlLine} bytes (maxControlLine, the server's --max-control-line)`);
      }
      parts.push(commandBytes(line, bytes));
    } catch (err) {
      if (err instanceof InvalidArgument) throw new InvalidArgument(`batch job ${i + 1}: ${err.message}`);
      throw err;
    }
  });
  return Buffer.concat(parts);
}

/** `PARENTS <id>`: the jobs it was enqueued after, with their outcomes. @param {number|string|bigint} id */
export const encodeParents = (id) => commandBytes(`PARENTS ${formatJobId(id)}`);
/**
 * `CHILDREN <id> [after=<id>] [limit=<n>]`: one page of a job's children, by id (server default
 * limit 1000).
 * @param {number|string|bigint} id
 * @param {{after?: number|string|bigint|null, limit?: number|null}} [opts]
 */
export function encodeChildren(id, opts = {}) {
  const o = checkOptionNames(opts, ['after', 'limit'], 'children option');
  let line = `CHILDREN ${formatJobId(id)}`;
  if (o.after !== undefined && o.after !== null) line += ` after=${formatJobId(o.after)}`;
  if (o.limit !== undefined && o.limit !== null) line += ` limit=${intInRange(o.limit, 'limit', 1, 1000)}`;
  return commandBytes(line);
}

/**
 * @param {string|string[]} queues @param {{timeout?: number|string}} [opts] no timeout: wait forever
 * @returns {Buffer}
 */
export function encodeReserve(queues, opts = {}) {
  opts = checkOptionNames(opts, ['timeout'], 'reserve option');
  if (typeof queues !== 'string' && !Array.isArray(queues)) {
    // A Set or a Map would be read as no queue at all; the order of the list is its priority.
    throw new InvalidArgument(`reserve takes a queue name or an array of them in priority order (got ${Object.prototype.toString.call(queues)})`);
  }
  const list = Array.isArray(queues) ? queues : [queues];
  if (list.length === 0) throw new InvalidArgument('reserve needs at least one queue');
  for (const q of list) checkQueue(q);
  let line = `RESERVE ${list.join(',')}`;
  if (opts.timeout !== undefined && opts.timeout !== null) line += ` timeout=${formatDuration(opts.timeout, 'timeout')}`;
  return commandBytes(line);
}

/** @param {unknown} v */
function optionalPayload(v) {
  return v === undefined || v === null ? null : toBytes(v instanceof Error ? v.message : v);
}

/**
 * @param {number|string} id @param {unknown} [result] kept with the job (string, bytes, or JSON)
 * @param {number} [attempt] the attempt held (`attempt=`): refused with NOT_HELD if the job moved on
 * @returns {Buffer}
 */
export function encodeAck(id, result, attempt) {
  return commandBytes(`ACK ${formatJobId(id)}${attemptOption(attempt)}`, optionalPayload(result));
}

/**
 * @param {number|string} id
 * @param {{reason?: unknown, retry?: number|string|false, attempt?: number, throttle?: number|string, scope?: 'queue'|'group'}} [opts]
 *   retry: a delay, or false for `retry=no`; attempt: the attempt held (`attempt=`); throttle: hold
 *   the queue (or, with `scope: 'group'`, the job's group) this long and put the job back without
 *   using up an attempt (`throttle=`; not with `retry`)
 * @returns {Buffer}
 */
export function encodeFail(id, opts = {}) {
  opts = checkOptionNames(opts, ['reason', 'retry', 'attempt', 'throttle', 'scope'], 'fail option');
  let line = `FAIL ${formatJobId(id)}${attemptOption(opts.attempt)}`;
  const hasRetry = opts.retry !== undefined && opts.retry !== null;
  const hasThrottle = opts.throttle !== undefined && opts.throttle !== null;
  if (hasRetry && hasThrottle) throw new InvalidArgument('retry and throttle cannot be used together');
  if (opts.scope !== undefined && opts.scope !== null) {
    if (!hasThrottle) throw new InvalidArgument('scope needs throttle');
    if (opts.scope !== 'queue' && opts.scope !== 'group') throw new InvalidArgument(`scope must be "queue" or "group" (got ${JSON.stringify(opts.scope)})`);
  }
  if (opts.retry === false || opts.retry === 'no') line += ' retry=no';
  else if (hasRetry) line += ` retry=${formatDuration(/** @type {number|string} */ (opts.retry), 'retry')}`;
  if (hasThrottle) {
    line += ` throttle=${positiveDuration(/** @type {number|string} */ (opts.throttle), 'throttle')}`;
    if (opts.scope !== undefined && opts.scope !== null) line += ` scope=${opts.scope}`;
  }
  return commandBytes(line, optionalPayload(opts.reason));
}

/**
 * @param {number|string} id @param {number} percent 0..100 @param {unknown} [note]
 * @param {number} [attempt] the attempt held (`attempt=`)
 * @returns {Buffer}
 */
export function encodeProgress(id, percent, note, attempt) {
  return commandBytes(`PROGRESS ${formatJobId(id)} ${intInRange(percent, 'percent', 0, 100)}${attemptOption(attempt)}`, optionalPayload(note));
}

/** @param {number|string} id @param {number} [attempt] the attempt held (`attempt=`) */
export const encodeTouch = (id, attempt) => commandBytes(`TOUCH ${formatJobId(id)}${attemptOption(attempt)}`);
/** @param {number|string} id */
export const encodeInspect = (id) => commandBytes(`INSPECT ${formatJobId(id)}`);

/**
 * `WAIT <id> [timeout=<d>]`: the job's outcome once it is completed or dead; without a timeout it
 * waits as long as that takes.
 * @param {number|string} id @param {{timeout?: number|string|null}} [opts]
 * @returns {Buffer}
 */
export function encodeWait(id, opts = {}) {
  opts = checkOptionNames(opts, ['timeout'], 'wait option');
  let line = `WAIT ${formatJobId(id)}`;
  if (opts.timeout !== undefined && opts.timeout !== null) line += ` timeout=${formatDuration(opts.timeout, 'timeout')}`;
  return commandBytes(line);
}
/** @param {number|string} id */
export const encodeRetry = (id) => commandBytes(`RETRY ${formatJobId(id)}`);
/** @param {string} queue */
export const encodeRetryQueue = (queue) => commandBytes(`RETRY queue=${checkQueue(queue)}`);
/** @param {number|string} id */
export const encodeDelete = (id) => commandBytes(`DEL ${formatJobId(id)}`);
export const encodeHelp = () => commandBytes('HELP');

/**
 * @param {string} queue @param {{limit?: number}} [opts]
 * @returns {Buffer}
 */
export function encodeDead(queue, opts = {}) {
  opts = checkOptionNames(opts, ['limit'], 'dead option');
  let line = `DEAD ${checkQueue(queue)}`;
  if (opts.limit !== undefined) line += ` limit=${intInRange(opts.limit, 'limit', 1, 9_999_999_999)}`;
  return commandBytes(line);
}

// Queue policies, server counters, routes.

/** @param {string} queue */
export const encodeQueue = (queue) => commandBytes(`QUEUE ${checkQueue(queue)}`);
/**
 * `QUEUES [after=<name>] [limit=<n>]`: one page of the queues, by name (server default limit 1000).
 * @param {{after?: string|null, limit?: number|null}} [opts]
 */
export const encodeQueues = (opts = {}) => encodeNamePage('QUEUES', opts);
export const encodeStats = () => commandBytes('STATS');
/** @param {string} queue */
export const encodePause = (queue) => commandBytes(`PAUSE ${checkQueue(queue)}`);
/** @param {string} queue */
export const encodeResume = (queue) => commandBytes(`RESUME ${checkQueue(queue)}`);
/** `ROUTES [after=<route-id>] [limit=<n>]`: one page of the routes, by id. */
export function encodeRoutes(opts = {}) {
  const o = checkOptionNames(opts, ['after', 'limit'], 'routes option');
  let line = 'ROUTES';
  if (o.after !== undefined && o.after !== null) line += ` after=${formatJobId(o.after)}`;
  if (o.limit !== undefined && o.limit !== null) line += ` limit=${intInRange(o.limit, 'limit', 1, 1000)}`;
  return commandBytes(line);
}
/** @param {number|string} id */
export const encodeUnroute = (id) => commandBytes(`UNROUTE ${formatJobId(id)}`);

/**
 * A rate as the server reads it: `"100/1s"`, `"100/s"`, `"5/250ms"`, or `{limit, per}` with `per`
 * a duration (ms or "1s").
 * @param {string|{limit: number, per: number|string}} r @param {string} what
 * @returns {string}
 */
export function formatRate(r, what = 'rate') {
  if (typeof r === 'string') {
    const m = /^([0-9]{1,7})\/([0-9]{0,12})(ms|s|m|h|d)?$/.exec(r);
    if (m && (m[2] !== '' || m[3] !== undefined)) {
      intInRange(Number(m[1]), `${what} limit`, 1, MAX_RATE);
      positiveDuration(`${m[2] || '1'}${m[3] ?? ''}`, `${what} window`);
      return r;
    }
  } else if (r && typeof r === 'object') {
    return `${intInRange(r.limit, `${what} limit`, 1, MAX_RATE)}/${positiveDuration(r.per, `${what} per`)}`;
  }
  throw new InvalidArgument(`${what} must be "<n>/<duration>" ("100/1s", "100/s", "5/250ms") or {limit, per} (got ${JSON.stringify(r)})`);
}

/** The most starts a rate allows per window. */
const MAX_RATE = 1_000_000;

/**
 * Queue settings for `QUEUE <queue> <setting>=<value> ...`. A setting given as `null` is sent as
 * `none`: it returns to its default. One left out (undefined) is not changed.
 * @typedef {object} QueueSettings
 * @property {string|{limit: number, per: number|string}|null} [rate] at most n starts per window ("100/1s")
 * @property {string|{limit: number, per: number|string}|null} [groupRate] the same per group (`group_rate=`)
 * @property {number|null} [concurrency] at most n jobs active at once
 * @property {number|null} [attempts] default attempts of jobs enqueued from now on (1..1000)
 * @property {EnqueueOptions['backoff']|null} [backoff] default backoff
 * @property {number|null} [jitter] default jitter, 0..1
 * @property {number|string|null} [lease] default lease (ms or "30s")
 * @property {number|null} [keepCompleted] completed jobs kept (`keep_completed=`)
 * @property {number|null} [keepDead] dead jobs kept (`keep_dead=`)
 */

/** @type {Record<string, [string, (v: any) => string]>} option → [wire name, formatter] */
const QUEUE_SETTINGS = {
  rate: ['rate', (v) => formatRate(v, 'rate')],
  groupRate: ['group_rate', (v) => formatRate(v, 'groupRate')],
  concurrency: ['concurrency', (v) => intInRange(v, 'concurrency', 1, 100_000)],
  attempts: ['attempts', (v) => intInRange(v, 'attempts', 1, 1000)],
  backoff: ['backoff', (v) => formatBackoff(v)],
  jitter: [
    'jitter',
    (v) => {
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new InvalidArgument('jitter must be a number from 0 to 1');
      return plainDecimal(v);
    },
  ],
  lease: ['lease', (v) => positiveDuration(v, 'lease')],
  keepCompleted: ['keep_completed', (v) => intInRange(v, 'keepCompleted', 0, Number.MAX_SAFE_INTEGER)],
  keepDead: ['keep_dead', (v) => intInRange(v, 'keepDead', 0, Number.MAX_SAFE_INTEGER)],
};

/**
 * @param {string} queue @param {QueueSettings} settings at least one
 * @returns {Buffer}
 */
export function encodeQueueSet(queue, settings) {
  let line = `QUEUE ${checkQueue(queue)}`;
  if (settings === null || typeof settings !== 'object') throw new InvalidArgument('settings must be an object');
  let n = 0;
  for (const [key, value] of Object.entries(settings)) {
    const spec = QUEUE_SETTINGS[key];
    if (!spec) throw new InvalidArgument(`unknown queue setting ${JSON.stringify(key)} (one of ${Object.keys(QUEUE_SETTINGS).join(', ')})`);
    if (value === undefined) continue;
    line += ` ${spec[0]}=${value === null ? 'none' : spec[1](value)}`;
    n += 1;
  }
  if (n === 0) throw new InvalidArgument('setQueue needs at least one setting');
  return commandBytes(line);
}

/**
 * @typedef {object} RouteOptions  the ENQ options each routed job gets (no `key` or `at`)
 * @property {number|string} [delay]
 * @property {number} [priority]
 * @property {number} [attempts]
 * @property {EnqueueOptions['backoff']} [backoff]
 * @property {number} [jitter]
 * @property {number|string} [lease]
 * @property {string} [group]
 * @property {number|string} [ttl] each routed job not started within this long after its ENQ is not run
 */

/**
 * @param {string} pattern a subject, wildcards allowed @param {string} queue @param {RouteOptions} [opts]
 * @returns {Buffer}
 */
export function encodeRoute(pattern, queue, opts = {}) {
  if (!isValidSubscribeSubject(pattern)) throw new InvalidArgument(`invalid subject pattern ${JSON.stringify(pattern)}`);
  if (pattern.startsWith('$')) throw new InvalidArgument(`reserved subjects ($...) cannot be routed: ${JSON.stringify(pattern)}`);
  const o = checkOptionNames(opts, ENQUEUE_OPTIONS, 'route option');
  if (o.key !== undefined || o.at !== undefined) throw new InvalidArgument('a route cannot take key or at (each message makes a new job)');
  if (o.expires !== undefined) throw new InvalidArgument('a route cannot take expires (use ttl: it counts from each job\'s ENQ)');
  // The same options as ENQ, in the same order.
  return commandBytes(['ROUTE', pattern, checkQueue(queue), ...enqueueFields(/** @type {EnqueueOptions} */ (o), { owner: 'route' })].join(' '));
}

// Browsing and bulk repair.

/** The job states, as LIST and PURGE name them (`blocked`: waiting for its parents, `after=`). */
export const JOB_STATES = Object.freeze(['waiting', 'delayed', 'blocked', 'active', 'completed', 'dead']);

/** @param {unknown} state @param {string} what @returns {string} */
function checkState(state, what = 'state') {
  if (typeof state !== 'string' || !JOB_STATES.includes(state)) {
    throw new InvalidArgument(`${what} must be one of ${JOB_STATES.join(', ')} (got ${JSON.stringify(state)})`);
  }
  return state;
}

/**
 * `LIST <queue> [state=<s>] [after=<cursor>] [limit=<n>]`: one page of the queue's jobs in one
 * state. `after` is the `next` cursor of the page before, sent exactly as the server gave it.
 * @param {string} queue
 * @param {{state?: string|null, after?: string|null, limit?: number|null}} [opts]
 * @returns {Buffer}
 */
export function encodeList(queue, opts = {}) {
  const o = checkOptionNames(opts, ['state', 'after', 'limit'], 'list option');
  let line = `LIST ${checkQueue(queue)}`;
  if (o.state !== undefined && o.state !== null) line += ` state=${checkState(o.state)}`;
  if (o.after !== undefined && o.after !== null) line += ` after=${token(o.after, 'after (a LIST cursor)')}`;
  if (o.limit !== undefined && o.limit !== null) line += ` limit=${intInRange(o.limit, 'limit', 1, 1000)}`;
  return commandBytes(line);
}

/**
 * `PURGE <queue> state=<s> [older=<d>]`: deletes the queue's jobs in that state (never `active`).
 * @param {string} queue
 * @param {{state: string, older?: number|string|null}} opts
 * @returns {Buffer}
 */
export function encodePurge(queue, opts) {
  const o = /** @type {{state?: string, older?: number|string|null}} */ (checkOptionNames(opts, ['state', 'older'], 'purge option'));
  let line = `PURGE ${checkQueue(queue)}`;
  if (o.state === undefined || o.state === null) throw new InvalidArgument('purge needs a state (waiting, delayed, blocked, completed or dead)');
  if (checkState(o.state) === 'active') throw new InvalidArgument('active jobs cannot be purged: a worker holds them (delete them one by one)');
  line += ` state=${o.state}`;
  if (o.older !== undefined && o.older !== null) line += ` older=${formatDuration(o.older, 'older')}`;
  return commandBytes(line);
}

/** `PROMOTE <id>`: a delayed job waits from now on. @param {number|string} id */
export const encodePromote = (id) => commandBytes(`PROMOTE ${formatJobId(id)}`);

// Schedules.

/** @param {unknown} name @returns {string} a valid schedule name (spelled like a queue name) */
export function checkScheduleName(name) {
  if (typeof name !== 'string' || !QUEUE_RE.test(name)) {
    throw new InvalidArgument(`schedule names are 1 to 128 of A-Z a-z 0-9 _ - (got ${JSON.stringify(name)})`);
  }
  return name;
}

const CATCHUP = ['none', 'one', 'all'];

/**
 * Options of SCHEDULE: when (exactly one of `cron` and `every`), then the ENQ options each tick's
 * job gets (no `key`, `at`, `delay` or `expires`: each tick's job is keyed `<name>@<tick>`).
 * @typedef {object} ScheduleOptions
 * @property {string} [cron] standard cron syntax: 5 fields, or 6 with seconds first; `@hourly`,
 *   `@daily`, … (sent in double quotes: no `"`, CR or LF)
 * @property {number|string} [every] a tick every this long from the creation (at least 1 s)
 * @property {string} [tz] the IANA zone `cron` is read in (default UTC); only with `cron`
 * @property {'none'|'one'|'all'} [catchup] ticks missed while docketd was down: none, one job for
 *   them (the server's default), or one job each
 * @property {number} [priority]
 * @property {number} [attempts]
 * @property {EnqueueOptions['backoff']} [backoff]
 * @property {number} [jitter]
 * @property {number|string} [lease]
 * @property {string} [group]
 * @property {number|string} [ttl] each tick's job not started within this long is not run
 */

/**
 * `SCHEDULE <name> <queue> cron="…"|every=<d> [tz=] [catchup=] [ENQ options] <#bytes>`.
 * @param {string} name @param {string} queue @param {unknown} payload @param {ScheduleOptions} opts
 * @returns {Buffer}
 */
export function encodeSchedule(name, queue, payload, opts) {
  const o = /** @type {ScheduleOptions & Record<string, unknown>} */ (checkOptionNames(opts, ['cron', 'every', 'tz', 'catchup', ...ENQUEUE_OPTIONS], 'schedule option'));
  const parts = ['SCHEDULE', checkScheduleName(name), checkQueue(queue)];
  for (const k of ['key', 'at', 'delay', 'expires']) {
    if (o[k] !== undefined) throw new InvalidArgument(`a schedule cannot take ${k} (each tick's job is keyed <name>@<tick>; ttl limits how long it may wait)`);
  }
  const hasCron = o.cron !== undefined && o.cron !== null;
  const hasEvery = o.every !== undefined && o.every !== null;
  if (hasCron === hasEvery) throw new InvalidArgument('a schedule needs exactly one of cron and every');
  if (hasCron) {
    if (typeof o.cron !== 'string' || o.cron.trim() === '' || /["\x00-\x1f\x7f]/.test(o.cron) || hasLoneSurrogate(o.cron)) {
      throw new InvalidArgument(`cron must be a non-empty expression without double quotes or control characters (got ${JSON.stringify(o.cron)})`);
    }
    parts.push(`cron="${o.cron}"`);
  } else {
    const every = positiveDuration(/** @type {number|string} */ (o.every), 'every');
    if (durationMs(every) < 1000) throw new InvalidArgument(`every must be at least 1s (got ${every})`);
    parts.push(`every=${every}`);
  }
  if (o.tz !== undefined && o.tz !== null) {
    if (!hasCron) throw new InvalidArgument('tz goes with cron only');
    parts.push(`tz=${token(o.tz, 'tz')}`);
  }
  if (o.catchup !== undefined && o.catchup !== null) {
    if (!CATCHUP.includes(/** @type {string} */ (o.catchup))) throw new InvalidArgument(`catchup must be none, one or all (got ${JSON.stringify(o.catchup)})`);
    parts.push(`catchup=${o.catchup}`);
  }
  const { cron: _c, every: _e, tz: _t, catchup: _u, ...enq } = o;
  parts.push(...enqueueFields(/** @type {EnqueueOptions} */ (enq), { owner: 'schedule' }));
  return commandBytes(parts.join(' '), toBytes(payload));
}

/** @param {string} name */
export const encodeUnschedule = (name) => commandBytes(`UNSCHEDULE ${checkScheduleName(name)}`);
/**
 * `SCHEDULES [after=<name>] [limit=<n>]`: one page of the schedules, by name (server default limit 100).
 * @param {{after?: string|null, limit?: number|null}} [opts]
 */
export function encodeSchedules(opts = {}) {
  return encodeNamePage('SCHEDULES', opts);
}

/** A listing by name, one page: `<verb> [after=<name>] [limit=<n>]` (QUEUES, SCHEDULES). */
function encodeNamePage(verb, opts) {
  const o = checkOptionNames(opts, ['after', 'limit'], `${verb.toLowerCase()} option`);
  let line = verb;
  if (o.after !== undefined && o.after !== null) line += ` after=${checkScheduleName(o.after)}`;
  if (o.limit !== undefined && o.limit !== null) line += ` limit=${intInRange(o.limit, 'limit', 1, 1000)}`;
  return commandBytes(line);
}
/** `PAUSE schedule=<name>` @param {string} name */
export const encodePauseSchedule = (name) => commandBytes(`PAUSE schedule=${checkScheduleName(name)}`);
/** `RESUME schedule=<name>` @param {string} name */
export const encodeResumeSchedule = (name) => commandBytes(`RESUME schedule=${checkScheduleName(name)}`);

// ---------------------------------------------------------------------------------------------
// Server → client: frames

/**
 * @typedef {{op:'INFO', info: Record<string, any>}
 *   | {op:'MSG', subject: string, sid: string, reply: string|null, payload: Buffer}
 *   | {op:'HMSG', subject: string, sid: string, reply: string|null, payload: Buffer, headers: MsgHeaders, status: number|null, description: string}
 *   | {op:'PING'} | {op:'PONG'} | {op:'NOJOB'}
 *   | {op:'OK', text: string}
 *   | {op:'ERR', text: string}
 *   | {op:'JOB', id: number|string, queue: string, attempt: number, leaseMs: number|null, delivery: number|string|null, payload: Buffer}
 *   | {op:'JSON', value: any, payload: Buffer}
 *   | {op:'HELP', text: string}
 *   | {op:'OUTCOME', id: number|string, state: 'completed'|'dead', payload: Buffer}
 *   | {op:'PENDING', id: number|string, state: string}} Frame
 */

const SIZE_RE = /^[0-9]{1,10}$/;
const ID_RE = /^[0-9]{1,19}$/;

/**
 * A job (or route) id the server sent: positive, at most 19 digits (PROTOCOL.md). A number when it
 * is at most Number.MAX_SAFE_INTEGER; above, the decimal string, exactly (a rounded number would
 * name another job). Every method that takes an id takes the string back.
 * @param {string} s @param {string} what @param {string} line
 * @returns {number|string}
 */
function idValue(s, what, line) {
  if (!ID_RE.test(s) || /^0+$/.test(s)) throw new ProtocolError(`${what} is not a positive number of at most 19 digits: ${JSON.stringify(line)}`);
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : s.replace(/^0+/, '');
}

/** @param {string} s @param {string} what */
function size(s, what) {
  if (!SIZE_RE.test(s)) throw new ProtocolError(`${what} is not a byte count: ${JSON.stringify(s)}`);
  return Number(s);
}

/**
 * Splits a control line into fields (one or more spaces or tabs).
 * @param {string} s
 */
function fields(s) {
  return s.split(/[ \t]+/).filter((f) => f.length > 0);
}

/**
 * A delivery id: a decimal u64. A number when it is at most Number.MAX_SAFE_INTEGER, else the
 * decimal string (exact; a JavaScript number would round it).
 * @param {string} s
 * @returns {number|string}
 */
export function parseDelivery(s) {
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : s.replace(/^0+(?=\d)/, '');
}

/**
 * The `name=value` fields of a JOB line between the attempt and the byte count: `lease=<ms>` and
 * `delivery=<n>`; fields a later server adds are ignored. A field without `=`, or a lease or
 * delivery that is not a number, is a protocol error.
 * @param {string[]} list @param {string} line
 * @returns {{leaseMs: number|null, delivery: number|string|null}}
 */
function parseJobFields(list, line) {
  /** @type {{leaseMs: number|null, delivery: number|string|null}} */
  const out = { leaseMs: null, delivery: null };
  for (const field of list) {
    const eq = field.indexOf('=');
    if (eq <= 0) throw new ProtocolError(`JOB field ${JSON.stringify(field)} is not name=value: ${JSON.stringify(line)}`);
    const name = field.slice(0, eq);
    const value = field.slice(eq + 1);
    if (name === 'lease' || name === 'delivery') {
      if (!/^[0-9]{1,20}$/.test(value)) throw new ProtocolError(`JOB ${name} is not a number: ${JSON.stringify(line)}`);
      if (name === 'lease') out.leaseMs = Number(value);
      else out.delivery = parseDelivery(value);
    }
  }
  return out;
}

// JSON.parse rounds an integer above Number.MAX_SAFE_INTEGER: a job id in a document (INSPECT's
// `id`, `parents`, `children`, PARENTS' ids, an event's) would name another job. Such integers are
// read as their exact decimal strings instead, as ids on the wire are (see idValue).
const LONG_DIGITS_RE = /[0-9]{16}/;
const JSON_TOKEN_RE = /"(?:[^"\\]|\\.)*"|-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/g;
const BIG_MARK = `\u0000docket-bigint-${Math.random().toString(36).slice(2)}:`;

/**
 * JSON.parse, but an integer literal beyond Number.MAX_SAFE_INTEGER becomes its exact decimal
 * string (job ids have up to 19 digits) rather than a rounded number. Other numbers, fractions
 * and exponents included, read as JSON.parse reads them.
 * @param {string} text
 * @returns {any}
 */
export function parseJson(text) {
  if (!LONG_DIGITS_RE.test(text)) return JSON.parse(text);
  let big = false;
  const marked = text.replace(JSON_TOKEN_RE, (tok, fraction, exponent) => {
    if (tok[0] === '"' || fraction !== undefined || exponent !== undefined || Number.isSafeInteger(Number(tok))) return tok;
    big = true;
    return JSON.stringify(BIG_MARK + tok.replace(/^(-?)0+(?=[0-9])/, '$1'));
  });
  if (!big) return JSON.parse(text);
  return JSON.parse(marked, (_k, v) => (typeof v === 'string' && v.startsWith(BIG_MARK) ? v.slice(BIG_MARK.length) : v));
}

/**
 * A streaming parser for the server's byte stream. Feed it Buffers as they arrive with `push`;
 * it calls `onFrame` for every complete frame, in order, and throws a ProtocolError on bytes that
 * break the protocol (after which it must not be used again). It never assumes a read holds a
 * whole line or a whole payload.
 */
export class Parser {
  /**
   * @param {(frame: Frame) => void} onFrame
   * @param {{maxControlLine?: number, maxPayload?: number, maxMessage?: number}} [limits]
   *   maxPayload: the largest payload of any frame (default 256 MiB); maxMessage: the largest of a
   *   MSG/HMSG (header block included; default maxPayload). A larger one is a ProtocolError, raised
   *   on its control line, before any of it is buffered. Both may be changed between pushes (the
   *   client sets maxMessage from the server's max_payload).
   */
  constructor(onFrame, limits = {}) {
    this.onFrame = onFrame;
    this.maxControlLine = limits.maxControlLine ?? 1024 * 1024;
    this.maxPayload = limits.maxPayload ?? 256 * 1024 * 1024;
    this.maxMessage = limits.maxMessage ?? this.maxPayload;
    /** @type {Buffer[]} */
    this.chunks = [];
    this.length = 0;
    /** bytes needed before it is worth looking again (a payload + CRLF) */
    this.need = 0;
    /** bytes of the current partial line already scanned for LF */
    this.scanned = 0;
    /** @type {null | {kind: string, fields: string[], size: number, hdr?: number, extra?: any}} */
    this.pending = null;
    this.failed = null;
  }

  /** True when no partial operation is buffered: everything pushed so far was framed. */
  get idle() {
    return this.pending === null && this.length === 0;
  }

  /** @param {Buffer} chunk */
  push(chunk) {
    if (this.failed) throw this.failed;
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
    if (this.length < this.need) return;
    const buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.length);
    this.chunks = [];
    this.length = 0;
    let pos = 0;
    try {
      for (;;) {
        if (this.pending) {
          const p = this.pending;
          if (buf.length - pos < p.size + 2) {
            this.need = p.size + 2;
            break;
          }
          if (buf[pos + p.size] !== CR || buf[pos + p.size + 1] !== LF) throw new ProtocolError(`${p.kind} payload is not followed by CRLF`);
          const payload = Buffer.from(buf.subarray(pos, pos + p.size));
          pos += p.size + 2;
          this.pending = null;
          this.need = 0;
          this.onFrame(finishPayloadFrame(p, payload));
          continue;
        }
        const from = pos + this.scanned;
        const nl = buf.indexOf(LF, from);
        if (nl < 0) {
          const partial = buf.length - pos;
          if (partial > this.maxControlLine + 1) throw new ProtocolError('control line too long');
          this.scanned = partial;
          break;
        }
        this.scanned = 0;
        if (nl === pos || buf[nl - 1] !== CR) throw new ProtocolError('control line does not end with CRLF');
        if (nl - 1 - pos > this.maxControlLine) throw new ProtocolError('control line too long');
        const line = buf.toString('utf8', pos, nl - 1);
        pos = nl + 1;
        const frame = this.parseLine(line);
        if (frame) this.onFrame(frame);
      }
    } catch (err) {
      this.failed = err instanceof ProtocolError ? err : new ProtocolError(String(err?.message ?? err), { cause: err });
      throw this.failed;
    }
    if (pos < buf.length) {
      const rest = buf.subarray(pos);
      this.chunks.push(rest);
      this.length = rest.length;
    }
  }

  /**
   * @param {string} line the control line without its CRLF
   * @returns {Frame|null} a frame, or null when a payload must follow
   */
  parseLine(line) {
    const m = /^([^ \t]*)[ \t]*(.*)$/s.exec(line);
    const op = m[1];
    const rest = m[2];
    switch (op) {
      case 'MSG': {
        const f = fields(rest);
        if (f.length !== 3 && f.length !== 4) throw new ProtocolError(`MSG needs 3 or 4 fields: ${JSON.stringify(line)}`);
        const n = size(f[f.length - 1], 'MSG size');
        this.expectPayload({ kind: 'MSG', fields: f, size: n });
        return null;
      }
      case 'HMSG': {
        const f = fields(rest);
        if (f.length !== 4 && f.length !== 5) throw new ProtocolError(`HMSG needs 4 or 5 fields: ${JSON.stringify(line)}`);
        const hdr = size(f[f.length - 2], 'HMSG header size');
        const total = size(f[f.length - 1], 'HMSG total size');
        if (hdr > total) throw new ProtocolError('HMSG header size is larger than its total size');
        this.expectPayload({ kind: 'HMSG', fields: f, size: total, hdr });
        return null;
      }
      case 'PING':
      case 'PONG':
      case 'NOJOB':
        if (rest.trim() !== '') throw new ProtocolError(`${op} takes no arguments: ${JSON.stringify(line)}`);
        return { op };
      case '+OK':
        return { op: 'OK', text: rest.trimEnd() };
      case '-ERR': {
        const t = rest.trimEnd();
        const q = /^'(.*)'$/s.exec(t);
        if (!q) throw new ProtocolError(`-ERR text is not in single quotes: ${JSON.stringify(line)}`);
        return { op: 'ERR', text: q[1] };
      }
      case 'INFO': {
        let info;
        try {
          info = JSON.parse(rest);
        } catch {
          throw new ProtocolError('INFO is not followed by JSON');
        }
        if (info === null || typeof info !== 'object' || Array.isArray(info)) throw new ProtocolError('INFO is not a JSON object');
        return { op: 'INFO', info };
      }
      case 'JOB': {
        // JOB <id> <queue> <attempt> [name=value ...] <#bytes>
        const f = fields(rest);
        if (f.length < 4) throw new ProtocolError(`JOB needs at least 4 fields: ${JSON.stringify(line)}`);
        idValue(f[0], 'JOB id', line);
        if (!SIZE_RE.test(f[2])) throw new ProtocolError(`JOB attempt must be a number: ${JSON.stringify(line)}`);
        const extra = parseJobFields(f.slice(3, -1), line);
        this.expectPayload({ kind: 'JOB', fields: f, size: size(f[f.length - 1], 'JOB size'), extra });
        return null;
      }
      case 'OUTCOME': {
        // OUTCOME <job-id> completed|dead <#bytes>
        const f = fields(rest);
        if (f.length !== 3) throw new ProtocolError(`OUTCOME needs 3 fields: ${JSON.stringify(line)}`);
        idValue(f[0], 'OUTCOME job id', line);
        if (f[1] !== 'completed' && f[1] !== 'dead') throw new ProtocolError(`OUTCOME state is not completed or dead: ${JSON.stringify(line)}`);
        this.expectPayload({ kind: 'OUTCOME', fields: f, size: size(f[2], 'OUTCOME size') });
        return null;
      }
      case 'PENDING': {
        // PENDING <job-id> <state>
        const f = fields(rest);
        if (f.length !== 2) throw new ProtocolError(`PENDING needs 2 fields: ${JSON.stringify(line)}`);
        const id = idValue(f[0], 'PENDING job id', line);
        // Any lower-case word: a later server may add job states.
        if (!/^[a-z][a-z_]*$/.test(f[1])) throw new ProtocolError(`PENDING state is not a lower-case word: ${JSON.stringify(line)}`);
        return { op: 'PENDING', id, state: f[1] };
      }
      case 'JSON':
      case 'HELP': {
        const f = fields(rest);
        if (f.length !== 1) throw new ProtocolError(`${op} needs 1 field: ${JSON.stringify(line)}`);
        this.expectPayload({ kind: op, fields: f, size: size(f[0], `${op} size`) });
        return null;
      }
      default: {
        // Op names are case-insensitive in NATS (nats.go reads `msg` as MSG; so do the Python
        // and Swift clients). docketd sends upper case, so only this rare path pays for it.
        const upper = op.toUpperCase();
        if (upper !== op) return this.parseLine(upper + line.slice(op.length));
        throw new ProtocolError(`unknown server operation ${JSON.stringify(op.slice(0, 40))}`);
      }
    }
  }

  /** @param {{kind: string, fields: string[], size: number, hdr?: number, extra?: any}} p */
  expectPayload(p) {
    const limit = p.kind === 'MSG' || p.kind === 'HMSG' ? Math.min(this.maxMessage, this.maxPayload) : this.maxPayload;
    if (p.size > limit) throw new ProtocolError(`${p.kind} payload of ${p.size} bytes is over the limit of ${limit}`);
    this.pending = p;
    this.need = 0;
  }
}

/**
 * @param {{kind: string, fields: string[], size: number, hdr?: number, extra?: any}} p
 * @param {Buffer} payload
 * @returns {Frame}
 */
function finishPayloadFrame(p, payload) {
  const f = p.fields;
  switch (p.kind) {
    case 'MSG':
      return { op: 'MSG', subject: f[0], sid: f[1], reply: f.length === 4 ? f[2] : null, payload };
    case 'HMSG': {
      // The header block is the publisher's, passed on as is by the server: one that is not
      // NATS/1.0 header lines is that message's fault, not the connection's (any publisher could
      // otherwise make every subscriber reconnect). The message comes without headers.
      let decoded;
      try {
        decoded = decodeHeaders(payload.subarray(0, p.hdr));
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        decoded = { status: null, description: null, headers: new MsgHeaders() };
      }
      const { status, description, headers } = decoded;
      return {
        op: 'HMSG',
        subject: f[0],
        sid: f[1],
        reply: f.length === 5 ? f[2] : null,
        payload: Buffer.from(payload.subarray(p.hdr)),
        headers,
        status,
        description,
      };
    }
    case 'JOB':
      return { op: 'JOB', id: idValue(f[0], 'JOB id', f.join(' ')), queue: f[1], attempt: Number(f[2]), leaseMs: p.extra.leaseMs, delivery: p.extra.delivery, payload };
    case 'JSON': {
      let value;
      try {
        value = parseJson(payload.toString('utf8'));
      } catch {
        throw new ProtocolError('JSON reply does not hold valid JSON');
      }
      return { op: 'JSON', value, payload };
    }
    case 'HELP':
      return { op: 'HELP', text: payload.toString('utf8') };
    case 'OUTCOME':
      return { op: 'OUTCOME', id: idValue(f[0], 'OUTCOME job id', f.join(' ')), state: /** @type {'completed'|'dead'} */ (f[1]), payload };
    default:
      throw new ProtocolError(`internal: unknown payload frame ${p.kind}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Server → client: routing and replies. A client sends `CONNECT {"verbose":false,…}`, so every
// command but PUB/HPUB/SUB/UNSUB gets exactly one reply, in order: replies are matched to the
// oldest waiting command. Each call has a reply decoder here; a new verb adds
// one entry to `replyDecoders` and an encoder above.

/** @param {Frame} f @param {string} call */
function unexpected(f, call) {
  return new ProtocolError(`unexpected reply to ${call}: ${f.op}${'text' in f && f.text ? ' ' + f.text : ''}`);
}

const JOB_ERROR_RE = /^([A-Z][A-Z0-9_]*[A-Z0-9])(?:[ \t]+([^]*))?$/;

/**
 * `-ERR '<CODE> <message>'`: the code and message, or null when the text is not a job error
 * (a NATS error such as `Invalid Subject`).
 * @param {string} text
 * @returns {{code: string, message: string} | null}
 */
export function parseJobError(text) {
  const m = JOB_ERROR_RE.exec(text);
  return m ? { code: m[1], message: m[2] ?? '' } : null;
}

/**
 * @typedef {object} Job
 * @property {number|string} id a number, or the exact decimal string above Number.MAX_SAFE_INTEGER
 * @property {string} queue
 * @property {number} attempt which run this is, from 1 (as the server counts them)
 * @property {number|null} leaseMs the job's lease (`lease=` of JOB); null from a server that does not send it
 * @property {number|string|null} delivery this delivery's id (`delivery=`), unique for the data
 *   directory's life, crashes included: a number, or a decimal string above Number.MAX_SAFE_INTEGER;
 *   null from a server that does not send it
 * @property {Buffer} payload
 */

/**
 * What WAIT answers (`OUTCOME` or `PENDING`).
 * @typedef {object} JobOutcome
 * @property {number|string} id
 * @property {string} state `completed` or `dead` once finished; while pending (the timeout passed
 *   first), the job's state then: `waiting`, `delayed`, `blocked` or `active`
 * @property {boolean} pending true when the timeout passed before the job finished
 * @property {Buffer|null} result a completed job's result (empty when its ACK had none); else null
 * @property {string|null} error a dead job's last error (UTF-8 text); else null
 */

/** @param {Frame} f @param {string} call */
function jsonObject(f, call) {
  if (f.op !== 'JSON' || f.value === null || typeof f.value !== 'object' || Array.isArray(f.value)) throw unexpected(f, call);
  return f.value;
}

/** @param {Frame} f @param {string} call */
function jsonArray(f, call) {
  if (f.op !== 'JSON' || !Array.isArray(f.value)) throw unexpected(f, call);
  return f.value;
}

/** @param {Frame} f @param {string} call */
function plainOk(f, call) {
  if (f.op !== 'OK' || f.text !== '') throw unexpected(f, call);
}

/** `+OK <count>` @param {Frame} f @param {string} call @returns {number} */
function okCount(f, call) {
  const m = f.op === 'OK' && /^([0-9]{1,20})$/.exec(f.text);
  if (!m) throw unexpected(f, call);
  return Number(m[1]);
}

/**
 * One page of LIST.
 * @typedef {object} JobPage
 * @property {string} queue
 * @property {'waiting'|'delayed'|'blocked'|'active'|'completed'|'dead'} state
 * @property {Record<string, any>[]} jobs job documents (as INSPECT's), in the state's order
 * @property {string|null} next the cursor to pass as `after` for the next page; null on the last
 */

/**
 * `JSON <n>` + `{"queue","state","jobs":[…],"next"}`
 * @param {Frame} f
 * @returns {JobPage}
 */
function listPage(f) {
  const page = jsonObject(f, 'list');
  if (!Array.isArray(page.jobs) || (page.next !== null && typeof page.next !== 'string')) {
    throw new ProtocolError('LIST reply is not a page ({"queue","state","jobs":[…],"next"})');
  }
  return /** @type {JobPage} */ (page);
}

/**
 * Reply decoders by call name: each gets the reply frame (never -ERR: a job error is turned into
 * a DocketError before) and returns the result, or throws a ProtocolError when it does not fit.
 * @type {Record<string, (f: Frame) => any>}
 */
export const replyDecoders = {
  ping(f) {
    if (f.op !== 'PONG') throw unexpected(f, 'ping');
    return null;
  },
  /**
   * `+OK <id>`, `+OK <id> duplicate` or `+OK <id> replaced` (`replace=true`)
   * @returns {{id: number|string, duplicate: boolean, replaced: boolean}}
   */
  enqueue(f) {
    const m = f.op === 'OK' && /^([0-9]{1,19})(?:[ \t]+(duplicate|replaced))?$/.exec(f.text);
    if (!m) throw unexpected(f, 'enqueue');
    return { id: idValue(m[1], 'ENQ job id', `+OK ${f.text}`), duplicate: m[2] === 'duplicate', replaced: m[2] === 'replaced' };
  },
  /** `+OK <id> <id> …`: the batch's job ids, in order @returns {(number|string)[]} */
  batch(f) {
    const m = f.op === 'OK' && /^[0-9]{1,19}(?:[ \t]+[0-9]{1,19})*$/.exec(f.text);
    if (!m) throw unexpected(f, 'batch');
    return fields(f.text).map((s) => idValue(s, 'BATCH job id', `+OK ${f.text}`));
  },
  /** `JSON <n>` + an array: each parent's `{id, queue, state, result, error}` (or `{id, state: 'deleted'}`) */
  parents: (f) => jsonArray(f, 'parents'),
  /** `JSON <n>` + `{id, children, next}`: one page of a job's children */
  children: (f) => jsonObject(f, 'children'),
  /** `JOB …` or `NOJOB` @returns {Job|null} */
  reserve(f) {
    if (f.op === 'NOJOB') return null;
    if (f.op !== 'JOB') throw unexpected(f, 'reserve');
    return { id: f.id, queue: f.queue, attempt: f.attempt, leaseMs: f.leaseMs, delivery: f.delivery, payload: f.payload };
  },
  ack: (f) => plainOk(f, 'ack'),
  progress: (f) => plainOk(f, 'progress'),
  touch: (f) => plainOk(f, 'touch'),
  cancel: (f) => plainOk(f, 'cancel'),
  retry: (f) => plainOk(f, 'retry'),
  delete: (f) => plainOk(f, 'delete'),
  /**
   * `+OK retry <ms>`, `+OK dead` or `+OK throttled <ms>`
   * @returns {{outcome: 'retry', delayMs: number} | {outcome: 'dead'} | {outcome: 'throttled', delayMs: number}}
   */
  fail(f) {
    if (f.op === 'OK') {
      if (f.text === 'dead') return { outcome: 'dead' };
      const m = /^(retry|throttled)[ \t]+([0-9]{1,20})$/.exec(f.text);
      if (m) return { outcome: /** @type {'retry'|'throttled'} */ (m[1]), delayMs: Number(m[2]) };
    }
    throw unexpected(f, 'fail');
  },
  /** `JSON <n>` + the queue document */
  queue: (f) => jsonObject(f, 'queue'),
  /** `JSON <n>` + an array of queue documents */
  queues: (f) => jsonArray(f, 'queues'),
  /** `JSON <n>` + the STATS document */
  stats: (f) => jsonObject(f, 'stats'),
  queue_set: (f) => plainOk(f, 'queue_set'),
  pause: (f) => plainOk(f, 'pause'),
  resume: (f) => plainOk(f, 'resume'),
  unroute: (f) => plainOk(f, 'unroute'),
  /** `+OK <route-id>` */
  route(f) {
    const m = f.op === 'OK' && /^([0-9]{1,19})$/.exec(f.text);
    if (!m) throw unexpected(f, 'route');
    return idValue(m[1], 'route id', `+OK ${f.text}`);
  },
  /** `JSON <n>` + an array of {id, pattern, queue, rule} */
  routes: (f) => jsonArray(f, 'routes'),
  /** `+OK <count>` */
  retry_queue: (f) => okCount(f, 'retry_queue'),
  /** `JSON <n>` + one page: `{"queue","state","jobs":[…],"next"}` */
  list: listPage,
  /** `+OK <count>`: how many jobs were deleted */
  purge: (f) => okCount(f, 'purge'),
  promote: (f) => plainOk(f, 'promote'),
  schedule: (f) => plainOk(f, 'schedule'),
  unschedule: (f) => plainOk(f, 'unschedule'),
  /** `JSON <n>` + an array of schedule documents, by name */
  schedules: (f) => jsonArray(f, 'schedules'),
  pause_schedule: (f) => plainOk(f, 'pause_schedule'),
  resume_schedule: (f) => plainOk(f, 'resume_schedule'),
  /** `JSON <n>` + an object */
  inspect(f) {
    if (f.op !== 'JSON' || f.value === null || typeof f.value !== 'object' || Array.isArray(f.value)) throw unexpected(f, 'inspect');
    return f.value;
  },
  /** `JSON <n>` + an array */
  dead(f) {
    if (f.op !== 'JSON' || !Array.isArray(f.value)) throw unexpected(f, 'dead');
    return f.value;
  },
  help(f) {
    if (f.op !== 'HELP') throw unexpected(f, 'help');
    return f.text;
  },
  /**
   * `OUTCOME <id> completed|dead <#bytes>` + the result or last error, or `PENDING <id> <state>`
   * @returns {JobOutcome}
   */
  wait(f) {
    if (f.op === 'OUTCOME') {
      const completed = f.state === 'completed';
      return { id: f.id, state: f.state, pending: false, result: completed ? f.payload : null, error: completed ? null : f.payload.toString('utf8') };
    }
    if (f.op === 'PENDING') return { id: f.id, state: f.state, pending: true, result: null, error: null };
    throw unexpected(f, 'wait');
  },
};

/**
 * True when a message body looks like what a route publishes to a PUB's reply subject once its
 * jobs are on disk: `{"jobs":[...]}` (with an `error` when the store refused them).
 * @param {Buffer} data
 * @returns {boolean}
 */
export function isRoutedReply(data) {
  if (data.length === 0 || data[0] !== 0x7b) return false;
  try {
    const doc = JSON.parse(data.toString('utf8'));
    return doc !== null && typeof doc === 'object' && Array.isArray(doc.jobs);
  } catch {
    return false;
  }
}

/**
 * The job ids of a route's reply (`{"jobs":[<id>,...]}`). A refusal
 * (`{"jobs":[],"error":{"code":"STORE_FULL","message":"…"}}`) throws its DocketError (StoreFull);
 * anything else is a ProtocolError.
 * @param {Buffer} data
 * @returns {number[]}
 */
export function parseRoutedReply(data) {
  let doc;
  try {
    doc = JSON.parse(data.toString('utf8'));
  } catch {
    throw new ProtocolError('the routed-jobs reply is not JSON');
  }
  if (doc === null || typeof doc !== 'object' || !Array.isArray(doc.jobs)) throw new ProtocolError('the routed-jobs reply has no jobs array');
  if (doc.error !== undefined && doc.error !== null) {
    if (typeof doc.error !== 'object' || typeof doc.error.code !== 'string') throw new ProtocolError('the routed-jobs reply has a malformed error');
    throw jobError(doc.error.code, String(doc.error.message ?? ''));
  }
  for (const id of doc.jobs) {
    if (!Number.isSafeInteger(id) || id <= 0) throw new ProtocolError('the routed-jobs reply has an id that is not a positive integer');
  }
  return doc.jobs;
}

// The -ERR texts NATS defines (PROTOCOL.md section 6), in lower case: a refused SUB or PUB, or the
// fatal error before a close. They answer no command, so a job command still waiting keeps waiting
// for its own reply. The last two carry a detail after them.
const NATS_ERROR_TEXTS = new Set([
  'unknown protocol operation',
  'maximum payload violation',
  'maximum control line exceeded',
  'invalid client protocol',
  'no responders requires headers support',
  'headers not negotiated',
  'maximum connections exceeded',
  'stale connection',
  'authorization violation',
  'authentication timeout',
  'user authentication expired',
  'maximum account active connections exceeded',
  'secure connection - tls required',
  'invalid subject',
  'invalid publish subject',
  'maximum subscriptions exceeded',
]);
const NATS_ERROR_PREFIXES = ['invalid protocol:', 'permissions violation '];

/** True for an -ERR text NATS defines (`Invalid Subject`, `Stale Connection`, …). @param {string} text */
export function isNatsError(text) {
  const lower = text.toLowerCase();
  return NATS_ERROR_TEXTS.has(lower) || NATS_ERROR_PREFIXES.some((p) => lower.startsWith(p));
}

/** Calls whose reply may be a job error (`-ERR '<CODE> …'`): every call but ping. @param {string} call */
export function takesJobErrors(call) {
  return call !== 'ping';
}

/**
 * @typedef {{to: 'message', frame: Frame}
 *   | {to: 'ping'}
 *   | {to: 'info', info: Record<string, any>}
 *   | {to: 'server_error', text: string}
 *   | {to: 'reply', value: any}
 *   | {to: 'reply', error: DocketError|ServerError}} Routed
 */

/**
 * Where a frame from the server goes, given the call the oldest waiting command was made with
 * (undefined when none waits). Throws a ProtocolError for a reply that no command waits for or
 * that does not fit the waiting one; the connection must then be dropped.
 * @param {Frame} f
 * @param {string|undefined} waiting a key of replyDecoders
 * @param {(f: Frame) => any} [decoder] the waiting command's decoder, when not in replyDecoders
 * @returns {Routed}
 */
export function route(f, waiting, decoder) {
  switch (f.op) {
    case 'MSG':
    case 'HMSG':
      return { to: 'message', frame: f };
    case 'PING':
      return { to: 'ping' };
    case 'INFO':
      return { to: 'info', info: f.info };
    case 'ERR': {
      if (waiting !== undefined && takesJobErrors(waiting)) {
        // A job command is always answered, in order: any -ERR but NATS's own is its answer, and
        // one without a code fails it at once with that text instead of leaving it to time out.
        const jobErr = parseJobError(f.text);
        if (jobErr) return { to: 'reply', error: jobError(jobErr.code, jobErr.message) };
        if (!isNatsError(f.text)) return { to: 'reply', error: new ServerError(f.text) };
      }
      return { to: 'server_error', text: f.text };
    }
    default: {
      if (waiting === undefined) throw new ProtocolError(`${f.op} arrived with no command waiting for a reply`);
      const d = decoder ?? replyDecoders[waiting];
      if (!d) throw new ProtocolError(`no reply decoder for ${waiting}`);
      return { to: 'reply', value: d(f) };
    }
  }
}
