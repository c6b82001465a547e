// A job worker: `concurrency` connections, each reserving and running one job at a time.

import { EventEmitter } from 'node:events';

import { Client, connect } from './client.js';
import { ConnectionClosed, DocketError, NonRetryableError, RetryAfterError } from './errors.js';

/**
 * @typedef {object} JobContext what a handler gets
 * @property {number} id
 * @property {string} queue
 * @property {number} attempt which run this is, from 1
 * @property {Buffer} payload
 * @property {() => string} text the payload as UTF-8
 * @property {() => any} json the payload parsed as JSON
 * @property {(percent: number, note?: unknown) => Promise<void>} progress records progress, extends the lease
 * @property {AbortSignal} signal aborted when the worker gives the job up (lease lost, shutdown grace over)
 */

/**
 * @typedef {object} WorkerOptions
 * @property {string|string[]} queues queues to take jobs from, in order of preference
 * @property {(ctx: JobContext) => unknown | Promise<unknown>} handler its return value is the job's result
 * @property {number} [concurrency] jobs run at once, one connection each (default 1)
 * @property {number} [heartbeatMs] TOUCH interval while a handler runs; keep it well under the jobs' lease (default 10000)
 * @property {number} [reserveTimeoutMs] how long one RESERVE waits; bounds how long stop() waits for idle slots (default 1000)
 * @property {number} [graceMs] how long stop() lets running jobs finish before failing them (default 10000)
 * @property {boolean} [handleSignals] stop gracefully on SIGTERM and SIGINT while running (default true)
 * @property {import('./client.js').ConnectOptions} [connection] where to connect (host, port, …); top-level host/port work too
 * @property {string} [host]
 * @property {number} [port]
 */

/** @param {number} ms @param {AbortSignal} [signal] */
function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(undefined);
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve(undefined);
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** @param {unknown} err */
function messageOf(err) {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

/**
 * Runs a handler for jobs. Events: `completed` (job, result), `failed` (job, error, outcome),
 * `error` (err: a command that failed, such as an ACK after the lease was lost), `stopped`.
 */
export class Worker extends EventEmitter {
  /** @param {WorkerOptions} options */
  constructor(options) {
    super();
    const { queues, handler, concurrency = 1, heartbeatMs = 10_000, reserveTimeoutMs = 1000, graceMs = 10_000, handleSignals = true, connection, ...rest } = options;
    if (typeof handler !== 'function') throw new TypeError('Worker needs a handler function');
    if (!queues || (Array.isArray(queues) && queues.length === 0)) throw new TypeError('Worker needs queues');
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new TypeError('concurrency must be a positive integer');
    this.queues = queues;
    this.handler = handler;
    this.concurrency = concurrency;
    this.heartbeatMs = heartbeatMs;
    this.reserveTimeoutMs = reserveTimeoutMs;
    this.graceMs = graceMs;
    this.handleSignals = handleSignals;
    /** @type {import('./client.js').ConnectOptions} */
    this.connection = { ...rest, ...connection };
    /** @type {Client[]} */
    this.clients = [];
    /** @type {Promise<void>[]} */
    this.loops = [];
    /** @type {Set<{job: any, client: Client, controller: AbortController, finishing: boolean, abandoned: boolean, heartbeat?: NodeJS.Timeout}>} */
    this.active = new Set();
    this.stopping = false;
    this.stopController = new AbortController();
    /** @type {Promise<void>|null} */
    this._stopPromise = null;
    /** @type {() => void} */
    let resolveStopped = () => {};
    /** Resolves when the worker has stopped. */
    this.stopped = new Promise((r) => (resolveStopped = r));
    this._resolveStopped = resolveStopped;
    this._onSignal = () => {
      this.stop().catch((err) => this._error(err));
    };
  }

  /** Jobs being handled now. */
  get running() {
    return this.active.size;
  }

  /**
   * Opens the connections and starts taking jobs; resolves once every connection is up.
   * @returns {Promise<this>}
   */
  async start() {
    if (this.clients.length > 0) throw new Error('worker already started');
    try {
      for (let i = 0; i < this.concurrency; i++) this.clients.push(await connect(this.connection));
    } catch (err) {
      await Promise.all(this.clients.map((c) => c.close()));
      throw err;
    }
    for (const c of this.clients) c.on('error', (err) => this._error(err));
    if (this.handleSignals) {
      process.on('SIGTERM', this._onSignal);
      process.on('SIGINT', this._onSignal);
    }
    this.loops = this.clients.map((c) => this._loop(c));
    return this;
  }

  /** @param {unknown} err */
  _error(err) {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else console.warn('docket worker:', messageOf(err));
  }

  /** @param {Client} client */
  async _loop(client) {
    while (!this.stopping) {
      let job;
      try {
        job = await client.reserve(this.queues, { timeout: this.reserveTimeoutMs });
      } catch (err) {
        if (this.stopping || err instanceof ConnectionClosed || client.isClosed) break;
        // ConnectionLost: the client reconnects by itself; other errors (BAD_QUEUE …) are reported.
        if (err instanceof DocketError) this._error(err);
        await sleep(err instanceof DocketError ? 1000 : 100, this.stopController.signal);
        continue;
      }
      if (job) await this._run(client, job); // a job that comes while stopping still runs, within the grace
    }
  }

  /**
   * @param {Client} client
   * @param {import('./protocol.js').Job} job
   */
  async _run(client, job) {
    const controller = new AbortController();
    const entry = { job, client, controller, finishing: false, abandoned: false, heartbeat: /** @type {NodeJS.Timeout|undefined} */ (undefined) };
    this.active.add(entry);
    entry.heartbeat = setInterval(() => {
      client.touch(job.id).catch((err) => {
        if (entry.finishing || entry.abandoned) return;
        if (err instanceof DocketError) {
          // NOT_HELD / NOT_FOUND: the lease is gone; the job is someone else's now.
          clearInterval(entry.heartbeat);
          controller.abort(err);
        }
        this._error(err);
      });
    }, this.heartbeatMs);
    /** @type {JobContext} */
    const ctx = {
      id: job.id,
      queue: job.queue,
      attempt: job.attempt,
      payload: job.payload,
      text: () => job.payload.toString('utf8'),
      json: () => JSON.parse(job.payload.toString('utf8')),
      progress: (percent, note) => client.progress(job.id, percent, note),
      signal: controller.signal,
    };
    let result;
    let error = null;
    try {
      result = await this.handler(ctx);
    } catch (err) {
      error = err ?? new Error('handler threw without an error');
    }
    clearInterval(entry.heartbeat);
    if (entry.abandoned) return; // shutdown already failed it
    entry.finishing = true;
    try {
      if (error === null) {
        await client.ack(job.id, result === undefined ? undefined : result);
        this.emit('completed', job, result);
      } else {
        /** @type {number|string|false|undefined} */
        let retry;
        if (error instanceof NonRetryableError) retry = false;
        else if (error instanceof RetryAfterError) retry = error.delayMs;
        const outcome = await client.fail(job.id, { reason: messageOf(error), retry });
        this.emit('failed', job, error, outcome);
      }
    } catch (err) {
      if (!(err instanceof ConnectionClosed)) this._error(err);
    } finally {
      this.active.delete(entry);
    }
  }

  /**
   * Stops taking jobs, lets running ones finish for up to `graceMs`, fails those still running
   * after that (retry at once, `retry=0ms`), closes the connections. Called again, it returns
   * the same promise.
   * @param {{graceMs?: number}} [opts]
   * @returns {Promise<void>}
   */
  stop(opts = {}) {
    if (this._stopPromise) return this._stopPromise;
    this.stopping = true;
    this.stopController.abort();
    const graceMs = opts.graceMs ?? this.graceMs;
    this._stopPromise = (async () => {
      if (this.handleSignals) {
        process.off('SIGTERM', this._onSignal);
        process.off('SIGINT', this._onSignal);
      }
      let timer;
      const graceOver = new Promise((r) => (timer = setTimeout(() => r('grace'), graceMs)));
      const outcome = await Promise.race([Promise.all(this.loops).then(() => 'done'), graceOver]);
      clearTimeout(timer);
      if (outcome === 'grace') {
        await Promise.all(
          [...this.active].map(async (entry) => {
            if (entry.finishing) return;
            entry.abandoned = true;
            clearInterval(entry.heartbeat);
            entry.controller.abort(new Error('worker stopped'));
            try {
              await entry.client.fail(entry.job.id, { reason: 'worker stopped before the job finished', retry: 0 });
            } catch (err) {
              this._error(err);
            } finally {
              this.active.delete(entry);
            }
          }),
        );
        // ACKs and FAILs of jobs that finished in the meantime get a short moment.
        await Promise.race([Promise.all(this.loops), sleep(Math.min(graceMs, 1000))]);
      }
      await Promise.all(this.clients.map((c) => c.close()));
      this.emit('stopped');
      this._resolveStopped();
    })();
    return this._stopPromise;
  }
}
