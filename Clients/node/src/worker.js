// A job worker: `concurrency` connections, each reserving and running one job at a time.

import { AsyncLocalStorage } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import { constants as osConstants } from 'node:os';
import { inspect } from 'node:util';

import { CONNECT_OPTIONS, Client, connect, describeAddress, redactConnectOptions } from './client.js';
import {
  AuthorizationError,
  ConnectionClosed,
  DocketError,
  InvalidArgument,
  NonRetryableError,
  RetryAfterError,
  Throttle,
  TimeoutError,
  TlsError,
} from './errors.js';
import { formatDuration, toBytes } from './protocol.js';
import { clearTimer, setTimer } from './timers.js';

/**
 * @typedef {object} JobContext what a handler gets
 * @property {number} id the job id: the same for every run of the job
 * @property {string} queue
 * @property {number} attempt which run this is, from 1, as the server counts them. Not unique: after
 *   a server crash a run can be handed out again with the same attempt. Use `delivery` to tell runs apart.
 * @property {number|string|null} delivery this run's delivery id, unique for the data directory's
 *   whole life (server crashes included): the key for making side effects idempotent. A number, or a
 *   decimal string above Number.MAX_SAFE_INTEGER; null from a server that does not send it.
 * @property {number|null} leaseMs the job's lease, when known (from JOB, else learned with INSPECT)
 * @property {Buffer} payload
 * @property {() => string} text the payload as UTF-8
 * @property {() => any} json the payload parsed as JSON
 * @property {(percent: number, note?: unknown) => Promise<void>} progress records progress and
 *   extends the lease; never left as an unhandled rejection (failures are logged), and ignored once
 *   the handler has returned
 * @property {() => Promise<void>} touch extends the lease now (same rules as progress)
 * @property {() => Promise<import('./client.js').ParentInfo[]>} parents the outcomes of the jobs this
 *   one was enqueued after (`PARENTS`; `[]` without parents): what a job that gathers their results reads
 * @property {AbortSignal} signal aborted when the worker gives the job up (lease lost, shutdown grace
 *   over, maxRunTimeMs passed)
 */

/**
 * Where the worker logs: one string per call. `console` by default; `debug` is optional.
 * @typedef {{debug?: (msg: string) => void, info: (msg: string) => void, warn: (msg: string) => void, error: (msg: string) => void}} Logger
 */

/**
 * @typedef {object} WorkerOptions
 * @property {string|string[]} queues queues to take jobs from, in order of preference
 * @property {(ctx: JobContext) => unknown | Promise<unknown>} handler its return value is the job's result
 * @property {number} [concurrency] jobs run at once, one connection each (default 1)
 * @property {number|null} [heartbeatMs] TOUCH interval while a handler runs. Default: a third of
 *   each job's lease (from the JOB line, or one INSPECT on servers that do not send it); null: no heartbeats
 * @property {number} [reserveTimeoutMs] how long one RESERVE waits (default 1000)
 * @property {number} [graceMs] how long stop() lets running jobs finish before handing them back
 *   (default 10000); stop() resolves at most graceMs + 1.5 s after it is called, whatever the server does
 * @property {number|null} [maxRunTimeMs] the longest one run of the handler may take (default null: no
 *   limit). Past it the worker stops extending the lease, aborts `signal`, FAILs the job (retried by
 *   its backoff), drops the handler's outcome if it ever comes, and takes the next job
 * @property {boolean} [handleSignals] SIGTERM/SIGINT: the first stops gracefully, a second one stops
 *   at once and exits the process with 128 + the signal number (default true)
 * @property {Logger|null} [logger] where the worker logs: one info line per job outcome (id, queue,
 *   attempt, delivery, outcome, duration), problems at warn/error. Default: `console`; any object
 *   with `info`, `warn` and `error` methods (pino, winston, …) works; null: silent
 * @property {import('./client.js').ConnectOptions} [connection] where to connect (url, host, port,
 *   user/pass/token, commandTimeoutMs, reconnect delays, …); top-level ones (or any connect option)
 *   work too
 * @property {string} [url]
 * @property {string} [host]
 * @property {number} [port]
 * @property {string} [user]
 * @property {string} [pass]
 * @property {string} [token]
 * @property {boolean|import('./client.js').TlsOptions} [tls] TLS options (see ConnectOptions)
 * @property {boolean} [tlsHandshakeFirst]
 */

/** Each worker's connect options with their secrets, kept off the object (see `connection`). @type {WeakMap<object, import('./client.js').ConnectOptions>} */
const connectOptionsOf = new WeakMap();

/** Time the connections get, once the grace is over, to hand back jobs still running. */
const HANDBACK_MS = 1000;
/** Time a closing connection gets to say goodbye before its socket is destroyed. */
const CLOSE_LINGER_MS = 500;
/** Heartbeat interval when a job's lease cannot be learned (a third of the server's default 30 s). */
const FALLBACK_HEARTBEAT_MS = 10_000;
/** The shortest automatic heartbeat interval. */
const MIN_HEARTBEAT_MS = 10;
/** Longest reason sent with FAIL, in bytes. */
const MAX_REASON_BYTES = 8192;
/** How often a running worker looks whether the event loop keeps up. */
const LOOP_WATCH_MS = 250;
/**
 * An event loop held up this long while a handler ran is logged at warn: long enough to miss the
 * heartbeat of a job with a 3 s lease (one a third of it), short enough to be heard before the
 * usual 30 s leases run out.
 */
const BLOCKED_LOOP_WARN_MS = 1000;

/**
 * The job whose handler is running in the current async context: lets stop() tell a call from
 * inside a handler (which must not wait for that handler) from any other.
 * @type {AsyncLocalStorage<{worker: Worker, entry: Running}>}
 */
const handlerContext = new AsyncLocalStorage();

/** @param {number} ms @param {AbortSignal} [signal] */
function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(undefined);
    const t = setTimer(done, ms);
    function done() {
      clearTimer(t);
      signal?.removeEventListener('abort', done);
      resolve(undefined);
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * A readable text for anything a handler may throw (or a command may fail with); never throws.
 * @param {unknown} err
 * @returns {string}
 */
export function describeError(err) {
  try {
    if (err instanceof Error) return err.message || err.name || 'Error';
    if (typeof err === 'string') return err;
    return `non-Error value thrown: ${inspect(err, { depth: 2, breakLength: Infinity, maxStringLength: 1000 })}`;
  } catch {
    return 'a value that cannot be described was thrown';
  }
}

/** @param {string} s @param {number} maxBytes */
function truncateUtf8(s, maxBytes) {
  if (Buffer.byteLength(s, 'utf8') <= maxBytes) return s;
  // '…' is 3 bytes; a character cut in two decodes as U+FFFD, dropped
  return Buffer.from(s, 'utf8').subarray(0, Math.max(maxBytes - 3, 0)).toString('utf8').replace(/\uFFFD+$/, '') + '…';
}

/** @param {unknown} err a BAD_OPTION about `attempt=`: the server predates attempt fencing */
function isUnknownAttemptOption(err) {
  return err instanceof DocketError && err.code === 'BAD_OPTION' && err.serverMessage.startsWith('attempt=');
}

/** @param {unknown} err the lease is gone: the job is someone else's now (or finished) */
function isLeaseLost(err) {
  return err instanceof DocketError && (err.code === 'NOT_HELD' || err.code === 'NOT_FOUND');
}

/**
 * @typedef {object} Running a job being handled
 * @property {import('./protocol.js').Job} job
 * @property {Client} client
 * @property {AbortController} controller
 * @property {number} startedAt performance.now() when the handler started
 * @property {number|null} leaseMs
 * @property {boolean} done the handler returned or threw
 * @property {boolean} finishing ACK/FAIL being sent
 * @property {boolean} abandoned stop() handed it back, or it ran past maxRunTimeMs: its outcome is dropped
 * @property {boolean} stopsItself its handler called stop(): stop() does not wait for it, and it
 *   finishes (ACK/FAIL) on its own connection, which closes after that
 * @property {Error|null} leaseLost why a heartbeat found the job no longer held
 * @property {import('./timers.js').Timer|null} heartbeat
 * @property {boolean} touching a TOUCH waits for its reply
 * @property {Promise<void>|null} finished resolves once ACK/FAIL is answered (or given up)
 */

/**
 * Runs a handler for jobs. Events: `completed` (job, result), `failed` (job, error, outcome),
 * `error` (err: a command that failed, such as an ACK after the lease was lost), `stopped`.
 */
export class Worker extends EventEmitter {
  /** @param {WorkerOptions} options */
  constructor(options) {
    super();
    const {
      queues,
      handler,
      concurrency = 1,
      heartbeatMs,
      reserveTimeoutMs = 1000,
      graceMs = 10_000,
      maxRunTimeMs = null,
      handleSignals = true,
      logger = console,
      connection,
      ...rest
    } = options;
    for (const name of Object.keys(rest)) {
      // Passed on to connect(): a misspelt `concurency` must not vanish there.
      if (!CONNECT_OPTIONS.includes(name)) {
        throw new InvalidArgument(`unknown Worker option ${JSON.stringify(name)} (a Worker takes queues, handler, concurrency, heartbeatMs, `
          + `reserveTimeoutMs, graceMs, maxRunTimeMs, handleSignals, logger, connection and the connect options)`);
      }
    }
    if (typeof handler !== 'function') throw new TypeError('Worker needs a handler function');
    if (!queues || (Array.isArray(queues) && queues.length === 0)) throw new TypeError('Worker needs queues');
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new TypeError('concurrency must be a positive integer');
    if (heartbeatMs !== undefined && heartbeatMs !== null && !(typeof heartbeatMs === 'number' && heartbeatMs > 0)) {
      throw new TypeError('heartbeatMs must be a positive number of milliseconds, null (no heartbeats), or left out (a third of the lease)');
    }
    if (!(typeof graceMs === 'number' && graceMs >= 0)) throw new TypeError('graceMs must be a non-negative number');
    if (maxRunTimeMs !== null && !(typeof maxRunTimeMs === 'number' && maxRunTimeMs > 0)) {
      throw new TypeError('maxRunTimeMs must be a positive number of milliseconds, or null (or Infinity) for no limit');
    }
    // Checked now (InvalidArgument), as reserve() checks it: a bad one would fail every RESERVE.
    if (reserveTimeoutMs !== null) formatDuration(reserveTimeoutMs, 'reserveTimeoutMs');
    if (logger !== null && (typeof logger !== 'object' && typeof logger !== 'function')) {
      throw new TypeError('logger must be an object with info, warn and error methods (console-like), or null for none');
    }
    this.queues = queues;
    this.handler = handler;
    this.concurrency = concurrency;
    /** @type {number|null|undefined} undefined: a third of each job's lease */
    this.heartbeatMs = heartbeatMs;
    this.reserveTimeoutMs = reserveTimeoutMs;
    this.graceMs = graceMs;
    /** @type {number|null} null: no limit */
    this.maxRunTimeMs = maxRunTimeMs === Infinity ? null : maxRunTimeMs;
    this.handleSignals = handleSignals;
    /** @type {Logger|null} */
    this.logger = logger;
    const connectOptions = { ...rest, ...connection };
    connectOptionsOf.set(this, connectOptions);
    /** @type {import('./client.js').ConnectOptions} the connect options, without password, token or TLS key (url redacted) */
    this.connection = redactConnectOptions(connectOptions);
    /** @type {Client[]} */
    this.clients = [];
    /** @type {Promise<void>[]} */
    this.loops = [];
    /** @type {Set<Running>} */
    this.active = new Set();
    this.started = false;
    this.stopping = false;
    this.stopController = new AbortController();
    /** @type {Promise<void>|null} */
    this._stopPromise = null;
    /** @type {(() => void)|null} ends the grace period at once */
    this._cutGrace = null;
    /** the grace was ended at once (a second signal, stop({graceMs: 0})): later stages get none */
    this._graceEnded = false;
    /** stop() is in its first stage (the slots whose handler did not call stop()) */
    this._othersPending = false;
    /** @type {(() => void)|null} stop() looks again whether only self-stopping slots are left */
    this._stopCheck = null;
    /** @type {Set<Client>} clients whose loop has ended */
    this._loopsEnded = new Set();
    /** @type {() => void} */
    let resolveOthers = () => {};
    /** Resolves once everything but the slots whose handler called stop() has stopped. */
    this._othersStopped = new Promise((r) => (resolveOthers = r));
    this._resolveOthersStopped = resolveOthers;
    /** @type {WeakMap<Client, number>} clients whose server refused `attempt=`, with their reconnect count then */
    this._unfenced = new WeakMap();
    this._warnedUnfenced = false;
    this._warnedHeartbeat = false;
    /** @type {NodeJS.Timeout|null} see _watchTheLoop */
    this._loopWatch = null;
    /** @type {() => void} */
    let resolveStopped = () => {};
    /** Resolves when the worker has stopped. */
    this.stopped = new Promise((r) => (resolveStopped = r));
    this._resolveStopped = resolveStopped;
    /** @param {NodeJS.Signals} signal */
    this._onSignal = (signal) => this._signal(signal);
  }

  /** Jobs being handled now. */
  get running() {
    return this.active.size;
  }

  // -------------------------------------------------------------------------------------------
  // Logging

  /** @param {'debug'|'info'|'warn'|'error'} level @param {string} msg */
  _log(level, msg) {
    try {
      const fn = this.logger?.[level] ?? (level === 'debug' ? null : this.logger?.warn);
      fn?.call(this.logger, `docket worker: ${msg}`);
    } catch {
      // a logger that throws must not take the worker down
    }
  }

  /**
   * Emits an event; a listener that throws is logged, and cannot upset the worker's bookkeeping.
   * @param {string} event @param {...unknown} args
   */
  _emit(event, ...args) {
    try {
      this.emit(event, ...args);
    } catch (err) {
      this._log('error', `a '${event}' listener threw: ${describeError(err)}`);
    }
  }

  /** @param {unknown} err */
  _error(err) {
    if (this.listenerCount('error') > 0) this._emit('error', err);
    else this._log(err instanceof AuthorizationError || err instanceof TlsError ? 'error' : 'warn', describeError(err));
  }

  /**
   * The info line of a job's outcome.
   * @param {Running} entry @param {string} outcome @param {string} [detail]
   */
  _logJob(entry, outcome, detail = '') {
    const { job } = entry;
    const ms = Math.round(performance.now() - entry.startedAt);
    this._log('info', `job ${job.id} queue=${job.queue} attempt=${job.attempt} delivery=${job.delivery ?? '-'} outcome=${outcome} duration_ms=${ms}${detail ? ' ' + detail : ''}`);
  }

  // -------------------------------------------------------------------------------------------
  // Start and the slots

  /**
   * Opens the connections and starts taking jobs; resolves once every connection is up. While the
   * server cannot be reached it keeps trying, with the connection's reconnect backoff
   * (`reconnectDelayMs` doubling up to `maxReconnectDelayMs`, at most `maxReconnectAttempts`),
   * logging each failure at warn (at error when the server refuses the credentials:
   * AuthorizationError). If the worker is stopped meanwhile, it resolves without running anything.
   * @returns {Promise<this>}
   */
  async start() {
    if (this.started) throw new Error('worker already started');
    this.started = true;
    if (this.handleSignals) {
      process.on('SIGTERM', this._onSignal);
      process.on('SIGINT', this._onSignal);
    }
    try {
      for (let i = 0; i < this.concurrency && !this.stopping; i++) {
        const client = await this._connect();
        if (!client) break;
        client.on('error', (err) => this._error(err));
        this.clients.push(client);
      }
    } catch (err) {
      await Promise.all(this.clients.map((c) => c.close()));
      this.clients = [];
      this._removeSignalHandlers();
      this._resolveStopped();
      throw err;
    }
    if (this.stopping) {
      await this._stopPromise;
      return this;
    }
    this._watchTheLoop();
    this.loops = this.clients.map((c) =>
      this._loop(c).finally(() => {
        this._loopsEnded.add(c);
        this._stopCheck?.();
      }),
    );
    return this;
  }

  /** One connection, retried with backoff until it works or the worker stops. @returns {Promise<Client|null>} */
  async _connect() {
    const options = connectOptionsOf.get(this) ?? this.connection;
    const { reconnectDelayMs = 50, maxReconnectDelayMs = 2000, maxReconnectAttempts = Infinity } = options;
    const where = describeAddress(options);
    for (let attempt = 1; ; attempt++) {
      if (this.stopping) return null;
      try {
        const client = await connect(options);
        if (this.stopping) {
          await client.close();
          return null;
        }
        if (attempt > 1) this._log('info', `connected to ${where} after ${attempt} attempts`);
        return client;
      } catch (err) {
        // Arguments that can never work are not retried.
        if (err instanceof TypeError || err instanceof RangeError || err instanceof InvalidArgument) throw err;
        if (attempt >= maxReconnectAttempts) throw err;
        const delay = Math.min(reconnectDelayMs * 2 ** (attempt - 1), maxReconnectDelayMs);
        const code = /** @type {any} */ (err)?.code;
        const why = describeError(err);
        const text = typeof code === 'string' && !why.includes(code) ? `${code}: ${why}` : why;
        // Refused credentials or a failed TLS setup are logged at error: nothing changes until
        // they (or the server's) do.
        const level = err instanceof AuthorizationError || err instanceof TlsError ? 'error' : 'warn';
        this._log(level, `cannot connect to ${where} (${text}); trying again in ${delay} ms (attempt ${attempt})`);
        await sleep(delay, this.stopController.signal);
      }
    }
  }

  /** @param {Client} client */
  async _loop(client) {
    const stopSignal = this.stopController.signal;
    const stopped = new Promise((resolve) => {
      if (stopSignal.aborted) resolve('stop');
      else stopSignal.addEventListener('abort', () => resolve('stop'), { once: true });
    });
    while (!this.stopping) {
      let job;
      try {
        const reserving = client.reserve(this.queues, { timeout: this.reserveTimeoutMs });
        let first = await Promise.race([reserving, stopped]);
        if (first === 'stop') {
          // Disconnected: the RESERVE waits in the outbox, unsent. Closing now drops it, so no job
          // can arrive for a slot that is gone. Connected: a job may be on its way; take it (it
          // still runs, within the grace).
          if (!client.isConnected) {
            reserving.catch(() => {});
            await client._closeWithin(CLOSE_LINGER_MS);
            break;
          }
          first = await reserving;
        }
        job = first;
      } catch (err) {
        if (this.stopping || err instanceof ConnectionClosed || client.isClosed) break;
        // ConnectionLost: the client reconnects by itself; other errors (BAD_QUEUE …) are reported.
        if (err instanceof DocketError) this._error(err);
        else if (err instanceof TimeoutError) this._log('warn', `${describeError(err)}; the server is not answering`);
        await sleep(err instanceof DocketError || err instanceof TimeoutError ? 1000 : 100, stopSignal);
        continue;
      }
      if (job) await this._run(client, job); // a job that comes while stopping still runs, within the grace
    }
  }

  // -------------------------------------------------------------------------------------------
  // Running a job

  /**
   * Sends a job command with `attempt=` of the held job. A server older than attempt fencing
   * refuses the option (BAD_OPTION attempt=…): nothing happened then, so the command goes again
   * without it, and later ones on that connection go without it until it reconnects.
   * @template T
   * @param {Client} client @param {import('./protocol.js').Job} job
   * @param {(attempt: number|undefined) => Promise<T>} send
   * @returns {Promise<T>}
   */
  async _fenced(client, job, send) {
    if (this._unfenced.get(client) !== client.reconnects) {
      try {
        return await send(job.attempt);
      } catch (err) {
        if (!isUnknownAttemptOption(err)) throw err;
        this._unfenced.set(client, client.reconnects);
        if (!this._warnedUnfenced) {
          this._warnedUnfenced = true;
          this._log('warn', 'the server does not know attempt= (it predates attempt fencing): job commands go without it');
        }
      }
    }
    return send(undefined);
  }

  /**
   * @param {Client} client
   * @param {import('./protocol.js').Job} job
   */
  async _run(client, job) {
    const controller = new AbortController();
    /** @type {Running} */
    const entry = {
      job,
      client,
      controller,
      startedAt: performance.now(),
      leaseMs: job.leaseMs ?? null,
      done: false,
      finishing: false,
      abandoned: false,
      leaseLost: null,
      heartbeat: null,
      touching: false,
      finished: null,
      stopsItself: false,
    };
    this.active.add(entry);
    this._startHeartbeat(entry);
    const late = (/** @type {string} */ what) => {
      this._log('warn', `job ${job.id}: ${what}() after the handler returned is ignored`);
      return Promise.resolve();
    };
    /** @type {JobContext} */
    const ctx = {
      id: job.id,
      queue: job.queue,
      attempt: job.attempt,
      delivery: job.delivery ?? null,
      get leaseMs() {
        return entry.leaseMs;
      },
      payload: job.payload,
      text: () => job.payload.toString('utf8'),
      json: () => JSON.parse(job.payload.toString('utf8')),
      progress: (percent, note) => {
        if (entry.done || entry.abandoned) return late('progress');
        return this._contained(entry, 'progress', this._fenced(client, job, (attempt) => client.progress(job.id, percent, note, { attempt })));
      },
      touch: () => {
        if (entry.done || entry.abandoned) return late('touch');
        return this._contained(entry, 'touch', this._fenced(client, job, (attempt) => client.touch(job.id, { attempt })));
      },
      parents: () => client.parents(job.id),
      signal: controller.signal,
    };
    // Started at once, as a plain call would be (the async function runs up to its first await).
    const ran = (async () => {
      try {
        return { threw: false, result: await handlerContext.run({ worker: this, entry }, () => this.handler(ctx)), error: undefined };
      } catch (err) {
        return { threw: true, result: undefined, error: err };
      }
    })();
    const outcome = await this._withinMaxRunTime(ran);
    if (outcome === null) {
      // Past maxRunTimeMs: the job is FAILed, and this slot takes the next one while the handler
      // may still be running; whatever it returns later is dropped.
      ran.then(() => {
        entry.done = true;
        this._log('warn', `job ${job.id}: the handler returned after its maxRunTimeMs; its outcome is dropped`);
      });
      await this._overran(entry);
      return;
    }
    const { result, threw, error } = outcome;
    entry.done = true;
    this._stopHeartbeat(entry);
    if (entry.abandoned) return; // stop() already handed it back
    entry.finishing = true;
    entry.finished = this._finish(entry, threw, result, error);
    try {
      await entry.finished;
    } finally {
      this.active.delete(entry);
    }
  }

  /**
   * What the handler gave, or null when maxRunTimeMs passed first.
   * @template T @param {Promise<T>} ran
   * @returns {Promise<T|null>}
   */
  async _withinMaxRunTime(ran) {
    if (this.maxRunTimeMs === null) return ran;
    /** @type {import('./timers.js').Timer|undefined} */
    let timer;
    const overran = new Promise((resolve) => (timer = setTimer(() => resolve(null), /** @type {number} */ (this.maxRunTimeMs))));
    try {
      return await Promise.race([ran, /** @type {Promise<null>} */ (overran)]);
    } finally {
      clearTimer(timer);
    }
  }

  /**
   * The handler ran past maxRunTimeMs: stop extending the lease, abort its signal, and FAIL the job
   * (by its backoff), so that it runs again instead of being held for as long as the handler hangs.
   * @param {Running} entry
   */
  async _overran(entry) {
    if (entry.abandoned) return; // stop() handed it back meanwhile
    entry.abandoned = true;
    this._stopHeartbeat(entry);
    const { job, client } = entry;
    const error = new Error(`handler ran longer than maxRunTimeMs (${this.maxRunTimeMs} ms)`);
    entry.controller.abort(error);
    try {
      const outcome = await this._fenced(client, job, (attempt) => client.fail(job.id, { reason: error.message, attempt }));
      this._logJob(entry, 'timed_out', `next=${outcome.outcome}`);
      this._emit('failed', job, error, outcome);
    } catch (err) {
      this._logJob(entry, 'timed_out', `error=${JSON.stringify(describeError(err))}`);
      if (!(err instanceof ConnectionClosed)) this._error(err);
    } finally {
      this.active.delete(entry);
    }
  }

  /**
   * A command sent for a handler (progress, touch): its failure is logged, and the promise
   * returned is handled, so a handler that does not await it cannot crash the process.
   * @param {Running} entry @param {string} what @param {Promise<void>} p
   */
  _contained(entry, what, p) {
    p.catch((err) => {
      if (isLeaseLost(err)) this._log('warn', `job ${entry.job.id}: ${what}() refused, the job is no longer held: ${describeError(err)}`);
      else this._log('warn', `job ${entry.job.id}: ${what}() failed: ${describeError(err)}`);
    });
    return p;
  }

  /**
   * ACK or FAIL the job; never throws.
   * @param {Running} entry @param {boolean} threw @param {unknown} result @param {unknown} error
   */
  async _finish(entry, threw, result, error) {
    const { job, client } = entry;
    if (entry.leaseLost) {
      // Another worker has the job (or it is finished): an ACK or FAIL would be refused anyway.
      this._logJob(entry, 'lease_lost', `error=${JSON.stringify(describeError(entry.leaseLost))}`);
      this._emit('failed', job, entry.leaseLost, { outcome: 'lease_lost' });
      return;
    }
    /** @type {Buffer|null} */
    let resultBytes = null;
    if (!threw && result !== undefined && result !== null) {
      try {
        resultBytes = toBytes(result);
        client._checkPayload(resultBytes.length);
      } catch (err) {
        threw = true;
        error = new Error(`the handler's result cannot be sent: ${describeError(err)}`, { cause: err });
      }
    }
    try {
      if (!threw) {
        await this._fenced(client, job, (attempt) => client.ack(job.id, resultBytes, { attempt }));
        this._logJob(entry, 'completed');
        this._emit('completed', job, result);
        return;
      }
      if (error === undefined || error === null) error = new Error(`handler threw ${String(error)}`);
      const maxPayload = client.info?.max_payload;
      const limit = typeof maxPayload === 'number' && maxPayload > 0 ? Math.min(MAX_REASON_BYTES, maxPayload) : MAX_REASON_BYTES;
      const reason = truncateUtf8(describeError(error), limit);
      /** @type {number|string|false|undefined} */
      let retry;
      if (error instanceof NonRetryableError) retry = false;
      else if (error instanceof RetryAfterError) retry = error.delayMs;
      /** @type {any} */
      let outcome;
      if (error instanceof Throttle) {
        const throttle = error.wire;
        const scope = error.scope === 'group' ? 'group' : undefined;
        try {
          outcome = await this._fenced(client, job, (attempt) => client.fail(job.id, { reason, throttle, scope, attempt }));
        } catch (err) {
          // An invalid duration (InvalidArgument), or one the server refuses (BAD_OPTION: scope=group
          // for a job without a group): the job follows its backoff instead.
          const refused = err instanceof InvalidArgument || (err instanceof DocketError && err.code === 'BAD_OPTION' && !isUnknownAttemptOption(err));
          if (!refused) throw err;
          this._log('warn', `job ${job.id}: throttle ${JSON.stringify(throttle)}${scope ? ' scope=group' : ''} not accepted (${describeError(err)}); the job follows its backoff`);
        }
      }
      try {
        outcome ??= await this._fenced(client, job, (attempt) => client.fail(job.id, { reason, retry, attempt }));
      } catch (err) {
        if (!(err instanceof InvalidArgument) || retry === undefined || retry === false) throw err;
        // a delay changed after RetryAfterError checked it: the job follows its backoff instead
        this._log('warn', `job ${job.id}: retry ${JSON.stringify(retry)} not sent (${describeError(err)}); the job follows its backoff`);
        outcome = await this._fenced(client, job, (attempt) => client.fail(job.id, { reason, attempt }));
      }
      const next =
        outcome.outcome === 'retry'
          ? `next=retry retry_in_ms=${outcome.delayMs}`
          : outcome.outcome === 'throttled'
            ? `next=throttled throttled_ms=${outcome.delayMs}`
            : 'next=dead';
      this._logJob(entry, 'failed', `${next} error=${JSON.stringify(truncateUtf8(reason, 200))}`);
      this._emit('failed', job, error, outcome);
    } catch (err) {
      if (isLeaseLost(err)) {
        this._logJob(entry, 'lease_lost', `error=${JSON.stringify(describeError(err))}`);
        this._error(err);
      } else if (err instanceof ConnectionClosed) {
        this._logJob(entry, 'not_delivered', 'error="connection closed"');
      } else {
        // ConnectionLost, TimeoutError: the server runs the job again once its lease ends.
        this._logJob(entry, 'not_delivered', `error=${JSON.stringify(describeError(err))}`);
        this._error(err);
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Heartbeats

  /** @param {Running} entry */
  _startHeartbeat(entry) {
    if (this.heartbeatMs === null) return;
    const { job, client } = entry;
    if (typeof this.heartbeatMs === 'number') {
      if (entry.leaseMs !== null && this.heartbeatMs >= entry.leaseMs && !this._warnedHeartbeat) {
        this._warnedHeartbeat = true;
        this._log('warn', `heartbeatMs=${this.heartbeatMs} is not shorter than job ${job.id}'s lease of ${entry.leaseMs} ms: its lease can run out`);
      }
      this._scheduleBeat(entry, this.heartbeatMs);
      return;
    }
    if (entry.leaseMs !== null) {
      this._scheduleBeat(entry, Math.max(Math.floor(entry.leaseMs / 3), MIN_HEARTBEAT_MS));
      return;
    }
    // A server that does not name the lease in JOB: ask for it once.
    client.inspect(job.id).then(
      (doc) => {
        if (entry.done || entry.abandoned) return;
        const lease = doc?.lease_ms;
        if (Number.isSafeInteger(lease) && lease > 0) {
          entry.leaseMs = lease;
          this._scheduleBeat(entry, Math.max(Math.floor(lease / 3), MIN_HEARTBEAT_MS));
        } else {
          this._log('warn', `job ${job.id}: lease unknown; heartbeat every ${FALLBACK_HEARTBEAT_MS} ms`);
          this._scheduleBeat(entry, FALLBACK_HEARTBEAT_MS);
        }
      },
      (err) => {
        if (entry.done || entry.abandoned) return;
        this._log('warn', `job ${job.id}: cannot learn its lease (${describeError(err)}); heartbeat every ${FALLBACK_HEARTBEAT_MS} ms`);
        this._scheduleBeat(entry, FALLBACK_HEARTBEAT_MS);
      },
    );
  }

  /** @param {Running} entry @param {number} interval */
  _scheduleBeat(entry, interval) {
    if (entry.done || entry.abandoned || entry.leaseLost) return;
    entry.heartbeat = setTimer(() => {
      entry.heartbeat = null;
      if (entry.done || entry.abandoned || entry.leaseLost) return;
      if (!entry.touching) {
        // One TOUCH at a time: against a server that does not answer they would pile up.
        entry.touching = true;
        const { job, client } = entry;
        this._fenced(client, job, (attempt) => client.touch(job.id, { attempt }))
          .catch((err) => {
            if (entry.done || entry.abandoned) return;
            if (isLeaseLost(err)) {
              // The lease is gone: the job is someone else's now.
              entry.leaseLost = /** @type {Error} */ (err);
              this._log('warn', `job ${job.id}: lease lost (${describeError(err)}); aborting its handler`);
              entry.controller.abort(err);
              return;
            }
            this._error(err);
          })
          .finally(() => {
            entry.touching = false;
          });
      }
      this._scheduleBeat(entry, interval);
    }, interval);
  }

  /** @param {Running} entry */
  _stopHeartbeat(entry) {
    clearTimer(entry.heartbeat);
    entry.heartbeat = null;
  }

  // -------------------------------------------------------------------------------------------
  // Stopping

  /** @param {NodeJS.Signals} signal */
  _signal(signal) {
    if (!this.stopping) {
      this._log('warn', `${signal}: stopping (running jobs get ${this.graceMs} ms); send it again to stop at once`);
      this.stop().catch((err) => this._error(err));
      return;
    }
    const code = 128 + (osConstants.signals[signal] ?? 15);
    this._log('warn', `${signal} again: stopping at once, handing back running jobs, then exiting with code ${code}`);
    this._endGrace();
    const stopping = this._stopPromise ?? this.stopped;
    stopping.catch(() => {}).finally(() => process.exit(code));
  }

  /**
   * Warns when the event loop was blocked while handlers ran: a handler doing synchronous work
   * (execSync, a long computation, readFileSync of a big file) holds up every heartbeat (leases
   * run out, jobs run twice), the other slots and the connections' keep-alive.
   */
  _watchTheLoop() {
    let last = performance.now();
    this._loopWatch = setInterval(() => {
      const now = performance.now();
      const blocked = now - last - LOOP_WATCH_MS;
      last = now;
      if (blocked < BLOCKED_LOOP_WARN_MS || this.active.size === 0) return;
      const ids = [...this.active].map((e) => String(e.job.id)).join(', ');
      this._log('warn', `the event loop was blocked for ${(blocked / 1000).toFixed(1)} s while job(s) ${ids} ran: heartbeats, the other slots and keep-alives waited; a handler must not block (move synchronous work to a worker thread or child process)`);
    }, LOOP_WATCH_MS);
    this._loopWatch.unref?.();
  }

  _removeSignalHandlers() {
    if (!this.handleSignals) return;
    process.off('SIGTERM', this._onSignal);
    process.off('SIGINT', this._onSignal);
  }

  /**
   * Hands a running job back: FAIL retry=0, so another worker can take it at once.
   * @param {Running} entry
   */
  async _handBack(entry) {
    entry.abandoned = true;
    this._stopHeartbeat(entry);
    entry.controller.abort(new Error('worker stopped'));
    const { job, client } = entry;
    try {
      await this._fenced(client, job, (attempt) =>
        client.fail(job.id, { reason: 'worker stopped before the job finished', retry: 0, attempt }),
      );
      this._logJob(entry, 'handed_back');
    } catch (err) {
      this._logJob(entry, 'handed_back', `error=${JSON.stringify(describeError(err))}`);
      if (!(err instanceof ConnectionClosed)) this._error(err);
    } finally {
      this.active.delete(entry);
    }
  }

  /**
   * Stops taking jobs, lets running ones finish for up to `graceMs`, hands back those still
   * running after that (FAIL retry=0), closes the connections. Resolves at most graceMs + 1.5 s
   * after the call, whatever the server does (down, or not answering). Called again, it returns
   * the same promise; `stop({graceMs: 0})` during a stop ends the grace at once.
   *
   * Called from inside a handler (`await worker.stop()` to run one job and stop), it does not wait
   * for that handler: it resolves once everything else has stopped (the other slots' jobs finished
   * or handed back, their connections closed). The calling job then finishes as usual, its result
   * ACKed (or its error FAILed) on its own connection, which closes after that; `worker.stopped`
   * resolves then. From that moment it has graceMs more before it too is handed back.
   * @param {{graceMs?: number}} [opts]
   * @returns {Promise<void>}
   */
  stop(opts = {}) {
    const caller = handlerContext.getStore();
    const self = caller?.worker === this && !caller.entry.done && !caller.entry.abandoned ? caller.entry : null;
    if (opts.graceMs !== undefined && !(typeof opts.graceMs === 'number' && opts.graceMs >= 0)) {
      return Promise.reject(new TypeError('graceMs must be a non-negative number'));
    }
    if (self) self.stopsItself = true;
    if (this._stopPromise) {
      // From a handler, {graceMs: 0} ends the others' grace only, never its own job's.
      if (opts.graceMs === 0 && !self) this._endGrace();
      else if (opts.graceMs === 0 && this._othersPending) this._cutGrace?.();
      this._stopCheck?.();
    } else {
      this._startStopping(opts.graceMs ?? this.graceMs);
    }
    return self ? this._othersStopped : /** @type {Promise<void>} */ (this._stopPromise);
  }

  /** Ends the grace period at once, that of a later stage (see stop() from a handler) too. */
  _endGrace() {
    this._graceEnded = true;
    this._cutGrace?.();
  }

  /**
   * True when every slot has stopped taking jobs but those whose handler called stop().
   * @returns {boolean}
   */
  _onlySelfStoppersLeft() {
    return this.clients.every(
      (c, i) => i >= this.loops.length || this._loopsEnded.has(c) || [...this.active].some((e) => e.client === c && e.stopsItself),
    );
  }

  /**
   * Waits for the running jobs of `clients` to finish, at most `graceMs` (or until `_cutGrace`),
   * then hands back those still running (their ACKs and FAILs already on the way get the same
   * moment), and closes those connections.
   * @param {number} graceMs
   * @param {() => Promise<unknown>} finished resolves once nothing more must be waited for
   * @param {(entry: Running) => boolean} mine the jobs this stage hands back
   * @param {Client[] | (() => Client[])} clients closed at the end
   */
  async _stopStage(graceMs, finished, mine, clients) {
    /** @type {import('./timers.js').Timer|undefined} */
    let timer;
    const graceOver = new Promise((resolve) => {
      this._cutGrace = () => resolve('grace');
      timer = setTimer(() => resolve('grace'), this._graceEnded ? 0 : graceMs);
    });
    /** @type {Promise<unknown>} */
    const done = finished().then(() => 'done');
    const outcome = await Promise.race([done, graceOver]);
    clearTimer(timer);
    /** @type {Promise<unknown>[]} */
    const waits = [];
    if (outcome === 'grace') {
      for (const entry of [...this.active]) {
        if (!mine(entry)) continue;
        if (entry.finishing && entry.finished) waits.push(entry.finished);
        else if (!entry.done && !entry.abandoned) waits.push(this._handBack(entry));
      }
      const handedBack = new AbortController();
      await Promise.race([Promise.all(waits), sleep(HANDBACK_MS, handedBack.signal)]);
      handedBack.abort(); // no timer left behind to keep the process alive
    }
    const closing = typeof clients === 'function' ? clients() : clients;
    await Promise.all(closing.map((c) => c._closeWithin(CLOSE_LINGER_MS)));
    // Closing settled every command still waiting: let their outcomes be logged first.
    await Promise.allSettled(waits);
  }

  /** @param {number} graceMs */
  _startStopping(graceMs) {
    this.stopping = true;
    this.stopController.abort();
    /** stage 1 runs: the slots other than the self-stopping ones are being stopped */
    this._othersPending = true;
    this._stopPromise = (async () => {
      // Stage 1: every slot but those whose handler called stop().
      /** @type {Set<Client>} */
      let selfClients = new Set();
      await this._stopStage(
        graceMs,
        () =>
          new Promise((resolve) => {
            this._stopCheck = () => {
              if (this._onlySelfStoppersLeft()) resolve(undefined);
            };
            this._stopCheck();
          }),
        (entry) => !entry.stopsItself,
        () => {
          this._stopCheck = null;
          selfClients = new Set([...this.active].filter((e) => e.stopsItself).map((e) => e.client));
          return this.clients.filter((c) => !selfClients.has(c));
        },
      );
      this._stopCheck = null;
      this._othersPending = false;
      this._resolveOthersStopped();
      // Stage 2: the jobs whose handler called stop() finish (ACK or FAIL) on their own
      // connections, within the worker's graceMs (none after a second signal).
      if (selfClients.size > 0) {
        const loops = this.loops.filter((_, i) => selfClients.has(this.clients[i]));
        await this._stopStage(this.graceMs, () => Promise.all(loops), (entry) => selfClients.has(entry.client), [...selfClients]);
      }
      this._removeSignalHandlers();
      clearInterval(this._loopWatch ?? undefined);
      this._emit('stopped');
      this._resolveStopped();
    })();
  }
}
