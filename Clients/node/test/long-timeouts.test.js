// Timeouts past Node's timer limit (2^31 - 1 ms, about 24.8 days): Node's own setTimeout fires
// those after 1 ms (with a TimeoutOverflowWarning), so a reserve('q', {timeout: '25d'}) used to
// reject at once while its RESERVE still waited on the server. Every timer of the client waits
// them out in full; Infinity means no limit; a timeout that is no number of milliseconds is refused.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';

import { Client, connect, InvalidArgument, Worker } from '../src/index.js';
import { MAX_TIMER_MS, setTimer } from '../src/timers.js';
import { quietLogger, sleep, startServer, waitFor, within } from '../testkit/helpers.js';

const LONG = 3e9; // about 35 days: past 2^31 - 1 ms, within the server's 366 days

/** Collects the process warnings emitted while `fn` runs. @param {() => Promise<void>} fn */
async function warningsDuring(fn) {
  /** @type {Error[]} */
  const warnings = [];
  const onWarning = (/** @type {Error} */ w) => warnings.push(w);
  process.on('warning', onWarning);
  try {
    await fn();
    await sleep(20); // warnings are emitted on the next tick
  } finally {
    process.off('warning', onWarning);
  }
  return warnings.filter((w) => w.name === 'TimeoutOverflowWarning');
}

test('setTimer waits out delays past 2^31 - 1 ms in steps, never fires for Infinity, and can be cleared', () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    let fired = 0;
    setTimer(() => fired++, MAX_TIMER_MS + 1000);
    mock.timers.tick(MAX_TIMER_MS);
    assert.equal(fired, 0, 'not after the first step');
    mock.timers.tick(999);
    assert.equal(fired, 0);
    mock.timers.tick(1);
    assert.equal(fired, 1, 'once the whole delay has passed');

    const cleared = setTimer(() => fired++, 3 * MAX_TIMER_MS);
    mock.timers.tick(MAX_TIMER_MS + 5);
    cleared.clear();
    assert.equal(cleared.pending, false);
    mock.timers.tick(3 * MAX_TIMER_MS);
    assert.equal(fired, 1, 'a cleared timer never fires, also after a step');

    const never = setTimer(() => fired++, Infinity);
    assert.equal(never.pending, false);
    mock.timers.tick(10 * MAX_TIMER_MS);
    assert.equal(fired, 1);
  } finally {
    mock.timers.reset();
  }
  assert.throws(() => setTimer(() => {}, NaN), RangeError);
  assert.throws(() => setTimer(() => {}, -1), RangeError);
});

test("reserve() and wait() with a timeout of 25 days wait for the job, not 1 ms", { timeout: 15_000 }, async () => {
  const server = await startServer();
  const c = await connect({ port: server.port });
  const waiter = await connect({ port: server.port });
  const other = await connect({ port: server.port });
  try {
    const overflow = await warningsDuring(async () => {
      const reserving = c.reserve('long-reserve', { timeout: '25d' });
      const early = await Promise.race([reserving.then(() => 'settled', () => 'settled'), sleep(200).then(() => 'waiting')]);
      assert.equal(early, 'waiting', 'the RESERVE of 25 days is still waiting after 200 ms');
      const { id } = await other.enqueue('long-reserve', 'x');
      const job = await within(reserving, 3000, 'reserve');
      assert.equal(job?.id, id);

      const waiting = waiter.wait(id, { timeout: '25d' });
      const early2 = await Promise.race([waiting.then(() => 'settled', () => 'settled'), sleep(200).then(() => 'waiting')]);
      assert.equal(early2, 'waiting', 'the WAIT of 25 days is still waiting after 200 ms');
      await c.ack(id, 'done');
      const outcome = await within(waiting, 3000, 'wait');
      assert.equal(outcome.state, 'completed');
      // The connections are still in step: the next commands get their own replies.
      assert.equal((await within(c.enqueue('long-reserve', 'y'), 3000, 'enqueue')).duplicate, false);
      await within(waiter.flush(), 3000, 'flush');
    });
    assert.deepEqual(overflow.map((w) => w.message), [], 'no TimeoutOverflowWarning');
  } finally {
    await Promise.all([c.close(), waiter.close(), other.close()]);
    await server.cleanup();
  }
});

test('commandTimeoutMs, requestTimeoutMs and connectTimeoutMs past 2^31 - 1 ms, and request({timeout: Infinity}), do not time out at once', { timeout: 15_000 }, async () => {
  const server = await startServer();
  const c = await connect({ port: server.port, commandTimeoutMs: LONG, requestTimeoutMs: LONG, connectTimeoutMs: LONG });
  const responder = await connect({ port: server.port });
  try {
    const overflow = await warningsDuring(async () => {
      const { id } = await within(c.enqueue('long-command', 'x'), 3000, 'enqueue');
      assert.equal((await c.inspect(id)).state, 'waiting');
      await within(c.flush(), 3000, 'flush');
      responder.subscribe('long.slow', { callback: (_e, m) => m && setTimeout(() => m.respond('late but fine'), 100) });
      await responder.flush();
      assert.equal((await within(c.request('long.slow', 'q'), 3000, 'request')).string(), 'late but fine');
      assert.equal((await within(c.request('long.slow', 'q', { timeout: Infinity }), 3000, 'request')).string(), 'late but fine');
      assert.equal((await within(c.request('long.slow', 'q', { timeout: LONG }), 3000, 'request')).string(), 'late but fine');
    });
    assert.deepEqual(overflow.map((w) => w.message), [], 'no TimeoutOverflowWarning');
  } finally {
    await Promise.all([c.close(), responder.close()]);
    await server.cleanup();
  }
});

test('a Worker with reserveTimeoutMs past 2^31 - 1 ms runs jobs; a reserveTimeoutMs that is no duration throws InvalidArgument', { timeout: 15_000 }, async () => {
  for (const bad of [NaN, -1, Infinity, 400 * 86_400_000, 'soon']) {
    assert.throws(
      () => new Worker({ queues: 'q', handler: () => {}, reserveTimeoutMs: /** @type {any} */ (bad), handleSignals: false, logger: null }),
      InvalidArgument,
      `reserveTimeoutMs ${String(bad)}`,
    );
  }
  const server = await startServer();
  const c = await connect({ port: server.port });
  const logger = quietLogger();
  /** @type {number[]} */
  const ran = [];
  const worker = new Worker({
    port: server.port,
    queues: 'long-worker',
    reserveTimeoutMs: LONG,
    graceMs: 100,
    handleSignals: false,
    logger,
    handler: (job) => void ran.push(job.id),
  });
  try {
    await worker.start();
    await sleep(200);
    const { id } = await c.enqueue('long-worker', 'x');
    await waitFor(() => ran.includes(id), 3000, 'the job ran');
    await waitFor(async () => (await c.inspect(id)).state === 'completed', 3000, 'the job completed');
    assert.deepEqual(logger.lines.filter((l) => !l.startsWith('info ')), [], 'nothing timed out');
  } finally {
    await within(worker.stop(), 5000, 'worker.stop');
    await c.close();
    await server.cleanup();
  }
});

test('timeout options: Infinity (and null or 0 for commandTimeoutMs) mean no limit; NaN, negative or non-numbers throw InvalidArgument', () => {
  assert.equal(new Client({ commandTimeoutMs: Infinity })._commandTimeout(), Infinity);
  assert.equal(new Client({ commandTimeoutMs: null })._commandTimeout(), Infinity);
  assert.equal(new Client({ commandTimeoutMs: 0 })._commandTimeout(), Infinity);
  assert.equal(new Client({ commandTimeoutMs: LONG })._commandTimeout(), LONG);
  assert.equal(new Client({ requestTimeoutMs: Infinity }).options.requestTimeoutMs, Infinity);
  // An option given as undefined takes its default (it used to mean "no limit" here, and 1 ms for requests).
  const dflt = new Client({ commandTimeoutMs: undefined, requestTimeoutMs: undefined, connectTimeoutMs: undefined });
  assert.equal(dflt.options.commandTimeoutMs, 10_000);
  assert.equal(dflt.options.requestTimeoutMs, 5000);
  assert.equal(dflt.options.connectTimeoutMs, 5000);
  for (const name of ['commandTimeoutMs', 'requestTimeoutMs', 'connectTimeoutMs']) {
    for (const bad of [NaN, -1, -Infinity, '5s', true, {}]) {
      assert.throws(() => new Client({ [name]: bad }), InvalidArgument, `${name} ${String(bad)}`);
    }
  }
  for (const name of ['requestTimeoutMs', 'connectTimeoutMs']) {
    assert.throws(() => new Client({ [name]: 0 }), InvalidArgument, `${name} 0`);
    assert.throws(() => new Client({ [name]: null }), InvalidArgument, `${name} null`);
  }
  for (const bad of [NaN, -1, '50']) {
    assert.throws(() => new Client({ reconnectDelayMs: /** @type {any} */ (bad) }), InvalidArgument, `reconnectDelayMs ${String(bad)}`);
    assert.throws(() => new Client({ maxReconnectDelayMs: /** @type {any} */ (bad) }), InvalidArgument, `maxReconnectDelayMs ${String(bad)}`);
  }
  assert.equal(new Client({ maxReconnectDelayMs: Infinity }).options.maxReconnectDelayMs, Infinity);
});
