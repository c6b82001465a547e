// The worker's logger option: console by default (one info line per job outcome), any
// console-like object (its methods called on it), silent with `logger: null`.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { connect, Worker } from '../src/index.js';
import { startServer, waitFor, within } from '../testkit/helpers.js';

const LEVELS = /** @type {const} */ (['debug', 'info', 'warn', 'error', 'log']);

/**
 * Replaces console's methods while `fn` runs; resolves with what each was called with.
 * @param {() => Promise<void>} fn
 */
async function capturingConsole(fn) {
  /** @type {string[]} */
  const lines = [];
  const saved = LEVELS.map((l) => console[l]);
  for (const l of LEVELS) console[l] = (...args) => lines.push(`${l} ${args.join(' ')}`);
  try {
    await fn();
  } finally {
    LEVELS.forEach((l, i) => (console[l] = saved[i]));
  }
  return lines;
}

/**
 * Runs a worker on one completing and one failing job, and stops it.
 * @param {number} port @param {Record<string, unknown>} options
 */
async function runTwoJobs(port, options) {
  const c = await connect({ port });
  const worker = new Worker({
    port,
    queues: 'logging',
    reserveTimeoutMs: 100,
    handleSignals: false,
    handler: (job) => {
      if (job.text() === 'bad') throw new Error('bad payload');
      return 'ok';
    },
    ...options,
  });
  let outcomes = 0;
  worker.on('completed', () => outcomes++);
  worker.on('failed', () => outcomes++);
  try {
    await c.enqueue('logging', 'good');
    await c.enqueue('logging', 'bad', { attempts: 1 });
    await worker.start();
    await waitFor(() => outcomes === 2, 4000, 'both outcomes');
  } finally {
    await within(worker.stop(), 3000, 'stop');
    await c.close();
  }
}

test('the default logger is console: one info line per job, with id, queue, attempt, outcome, duration', { timeout: 8000 }, async () => {
  const server = await startServer();
  try {
    const lines = await capturingConsole(() => runTwoJobs(server.port, {}));
    const jobLines = lines.filter((l) => /^info docket worker: job \d+ /.test(l));
    assert.equal(jobLines.length, 2, lines.join('\n'));
    assert.match(jobLines[0], /^info docket worker: job \d+ queue=logging attempt=1 delivery=\d+ outcome=completed duration_ms=\d+$/);
    assert.match(jobLines[1], /^info docket worker: job \d+ queue=logging attempt=1 delivery=\d+ outcome=failed duration_ms=\d+ next=dead error="bad payload"$/);
  } finally {
    await server.cleanup();
  }
});

test('logger: null is silent; a console-like object gets its methods called on itself', { timeout: 8000 }, async () => {
  const server = await startServer();
  try {
    const silent = await capturingConsole(() => runTwoJobs(server.port, { logger: null }));
    assert.deepEqual(silent, []);
    // A logger whose methods use `this` (as pino's and winston's do), without debug.
    class Collector {
      constructor() {
        /** @type {string[]} */
        this.lines = [];
      }
      /** @param {string} m */ info(m) { this.lines.push(`info ${m}`); }
      /** @param {string} m */ warn(m) { this.lines.push(`warn ${m}`); }
      /** @param {string} m */ error(m) { this.lines.push(`error ${m}`); }
    }
    const logger = new Collector();
    const printed = await capturingConsole(() => runTwoJobs(server.port, { logger }));
    assert.deepEqual(printed, []);
    assert.equal(logger.lines.filter((l) => /^info docket worker: job \d+ queue=logging /.test(l)).length, 2, logger.lines.join('\n'));
    assert.throws(() => new Worker({ queues: 'q', handler: () => {}, logger: 'console' }), /logger must be/);
  } finally {
    await server.cleanup();
  }
});
