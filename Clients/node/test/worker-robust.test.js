// The worker against its users (handlers that return or throw odd things, unawaited calls) and
// its server (down, killed, frozen with SIGSTOP): issue #20.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { connect, Worker } from '../src/index.js';
import { startServer, within, sleep, waitFor, quietLogger, freePort } from '../testkit/helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Connection options that notice a restart quickly. */
const FAST = { reconnectDelayMs: 20, maxReconnectDelayMs: 200 };

/**
 * Runs testkit/worker-process.js; `out()` is what it printed so far.
 * @param {string[]} args
 */
function workerProcess(args) {
  const child = spawn(process.execPath, [path.join(here, '..', 'testkit', 'worker-process.js'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => (out += d));
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => (err += d));
  /** @type {Promise<{code: number|null, signal: string|null}>} */
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, exited, out: () => out, err: () => err };
}

// ---------------------------------------------------------------------------------------------
// 1. stop() is bounded by graceMs, whatever the server does

for (const how of ['killed', 'frozen']) {
  test(`stop() resolves within graceMs + 1.5 s while the server is ${how}`, { timeout: 20_000 }, async () => {
    const server = await startServer();
    const c = await connect({ port: server.port });
    const logger = quietLogger();
    const worker = new Worker({
      port: server.port,
      ...FAST,
      queues: 'bounded',
      reserveTimeoutMs: 200,
      graceMs: 300,
      handleSignals: false,
      logger,
      handler: () => sleep(4000), // outlives the grace, ignores job.signal
    });
    try {
      const { id } = await c.enqueue('bounded', 'x');
      await worker.start();
      await waitFor(async () => (await c.inspect(id)).state === 'active', 3000, 'job active');
      if (how === 'killed') await server.kill();
      else server.freeze();
      const t0 = Date.now();
      await within(worker.stop(), 4000, 'worker.stop');
      const took = Date.now() - t0;
      assert.ok(took < 300 + 1500 + 700, `stop() took ${took} ms`); // graceMs + 1.5 s, and some slack
      assert.ok(logger.lines.some((l) => /job \d+ .*outcome=handed_back/.test(l)), logger.lines.join('\n'));
    } finally {
      await c.close();
      await server.cleanup();
    }
  });
}

test('a second SIGTERM stops at once: running jobs handed back, exit code 143', { timeout: 20_000 }, async () => {
  const server = await startServer();
  const c = await connect({ port: server.port });
  const w = workerProcess([String(server.port), 'sigterm2', '20000', '8000']);
  try {
    const { id } = await c.enqueue('sigterm2', 'x', { attempts: 3 });
    await waitFor(() => w.out().includes(`started ${id}`), 5000, 'job started in child');
    w.child.kill('SIGTERM');
    await sleep(300);
    assert.equal(w.child.exitCode, null, 'still in its grace period');
    const t0 = Date.now();
    w.child.kill('SIGTERM');
    const { code, signal } = await within(w.exited, 4000, 'child exit');
    assert.ok(Date.now() - t0 < 3000);
    assert.equal(signal, null, `killed by ${signal}: ${w.out()}${w.err()}`);
    assert.equal(code, 143);
    assert.match(w.out(), /\nstopped\n/);
    assert.match(w.out(), /outcome=handed_back/);
    assert.match(w.out(), /log warn .*SIGTERM: stopping/);
    const doc = await c.inspect(id);
    assert.equal(doc.state, 'waiting');
    assert.equal(doc.last_error, 'worker stopped before the job finished');
  } finally {
    if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await c.close();
    await server.cleanup();
  }
});

// ---------------------------------------------------------------------------------------------
// 2. Results that cannot be sent and thrown non-Errors FAIL the job at once

test('an unserializable result or a thrown non-Error FAILs the job at once, with a readable reason', { timeout: 20_000 }, async () => {
  const server = await startServer();
  const c = await connect({ port: server.port });
  const logger = quietLogger();
  const circular = { name: 'loop' };
  circular.self = circular;
  /** @type {Record<string, () => unknown>} */
  const cases = {
    bigint: () => 10n ** 30n,
    circular: () => circular,
    function: () => () => 'hi',
    symbol: () => Symbol('s'),
    huge: () => 'x'.repeat(/** @type {number} */ (c.info?.max_payload) + 1),
    nested_bigint: () => ({ total: 5n }),
    null_prototype: () => {
      throw Object.create(null);
    },
    number: () => {
      throw 42;
    },
    object: () => {
      throw { status: 500 };
    },
    long_message: () => {
      throw new Error('é'.repeat(20_000));
    },
  };
  const expect = {
    bigint: /^the handler's result cannot be sent: .*BigInt/,
    circular: /^the handler's result cannot be sent: .*circular/i,
    function: /^the handler's result cannot be sent: cannot encode a function/,
    symbol: /^the handler's result cannot be sent: cannot encode a symbol/,
    huge: /^the handler's result cannot be sent: payload of \d+ bytes is over the server's max_payload of \d+/,
    nested_bigint: /^the handler's result cannot be sent: .*BigInt/,
    null_prototype: /^non-Error value thrown: \[Object: null prototype\] \{\}$/,
    number: /^non-Error value thrown: 42$/,
    object: /^non-Error value thrown: \{ status: 500 \}$/,
    long_message: /^(é){4000,4095}…$/, // cut at 8 KiB, on a character boundary
  };
  const worker = new Worker({
    port: server.port,
    queues: 'odd',
    concurrency: 2,
    reserveTimeoutMs: 200,
    handleSignals: false,
    logger,
    handler: (job) => cases[job.text()](),
  });
  const errors = [];
  worker.on('error', (e) => errors.push(e));
  try {
    /** @type {Record<string, number>} */
    const ids = {};
    for (const name of Object.keys(cases)) ids[name] = (await c.enqueue('odd', name, { attempts: 1, lease: '30s' })).id;
    await worker.start();
    // Dead at once (one attempt each), long before the 30 s lease would end.
    await waitFor(async () => {
      for (const id of Object.values(ids)) if ((await c.inspect(id)).state !== 'dead') return false;
      return true;
    }, 5000, 'every job dead');
    for (const [name, id] of Object.entries(ids)) {
      const doc = await c.inspect(id);
      assert.match(doc.last_error, expect[name], name);
    }
    assert.deepEqual(errors, []);
  } finally {
    await within(worker.stop(), 5000, 'worker.stop');
    await c.close();
    await server.cleanup();
  }
});

// ---------------------------------------------------------------------------------------------
// 4. progress() nobody awaits cannot crash the process

test('an unawaited progress() after the job finished or lost its lease is logged, not a crash', { timeout: 20_000 }, async () => {
  const server = await startServer();
  const c = await connect({ port: server.port });
  const w = workerProcess([String(server.port), 'late', '700', '2000', 'late-progress']);
  try {
    const late = await c.enqueue('late', 'late');
    const expired = await c.enqueue('late', 'expired', { lease: 300, attempts: 1 });
    await waitFor(() => w.out().includes(`completed ${late.id}`), 5000, 'first job completed');
    // The second job's lease (300 ms) runs out while its handler sleeps (700 ms); then it calls
    // progress(), refused with NOT_HELD. The first job's late progress() came 100 ms after it ended.
    await waitFor(async () => (await c.inspect(expired.id)).state === 'dead', 5000, 'second job dead (lease ran out)');
    await sleep(900);
    assert.equal(w.child.exitCode, null, `worker process died: ${w.out()}${w.err()}`);
    assert.match(w.out(), /log warn .*progress\(\) refused, the job is no longer held/);
    w.child.kill('SIGTERM');
    const { code } = await within(w.exited, 5000, 'child exit');
    assert.equal(code, 0, w.out() + w.err());
    assert.match(w.out(), new RegExp(`log warn docket worker: job ${late.id}: progress\\(\\) after the handler returned is ignored`));
    assert.equal((await c.inspect(late.id)).state, 'completed');
    assert.equal((await c.inspect(expired.id)).state, 'dead');
    assert.doesNotMatch(w.err(), /Unhandled|unhandled/);
  } finally {
    if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await c.close();
    await server.cleanup();
  }
});

// ---------------------------------------------------------------------------------------------
// 5. start() waits for a server that is not there yet

test('start() retries with backoff while the server is down, then runs jobs', { timeout: 20_000 }, async () => {
  const port = await freePort();
  const logger = quietLogger();
  const done = [];
  const worker = new Worker({
    port,
    ...FAST,
    queues: 'late-server',
    concurrency: 2,
    reserveTimeoutMs: 200,
    handleSignals: false,
    logger,
    handler: (job) => {
      done.push(job.id);
      return 'ok';
    },
  });
  const started = worker.start();
  const outcome = started.then(() => 'resolved', (e) => e);
  /** @type {import('../testkit/helpers.js').Server|undefined} */
  let server;
  try {
    await sleep(500);
    assert.equal(await Promise.race([outcome, sleep(1).then(() => 'pending')]), 'pending', 'start() gave up');
    const warnings = logger.lines.filter((l) => /^warn docket worker: cannot connect to 127\.0\.0\.1:\d+ \(.*ECONNREFUSED.*\); trying again in \d+ ms/.test(l));
    assert.ok(warnings.length >= 2, logger.lines.join('\n'));
    server = await startServer({ port });
    assert.equal(await within(outcome, 3000, 'start()'), 'resolved');
    assert.equal(worker.clients.length, 2);
    const c = await connect({ port });
    const { id } = await c.enqueue('late-server', 'x');
    await waitFor(() => done.includes(id), 3000, 'job done');
    await c.close();
  } finally {
    await within(worker.stop(), 5000, 'worker.stop');
    await server?.cleanup();
  }
});

test('stop() while start() still waits for the server: start() resolves, nothing runs', { timeout: 10_000 }, async () => {
  const port = await freePort();
  const worker = new Worker({ port, ...FAST, queues: 'q', handleSignals: false, logger: quietLogger(), handler: () => {} });
  const started = worker.start();
  await sleep(200);
  await within(worker.stop(), 2000, 'worker.stop');
  assert.equal(await within(started, 2000, 'start()'), worker);
  assert.equal(worker.clients.length, 0);
});

// ---------------------------------------------------------------------------------------------
// 6. Heartbeats follow the job's lease

test('default heartbeats follow the lease: a 1 s lease, a 3 s handler, one delivery', { timeout: 20_000 }, async () => {
  const server = await startServer();
  const c = await connect({ port: server.port });
  const runs = [];
  const worker = new Worker({
    port: server.port,
    queues: 'short-lease',
    concurrency: 2, // a second slot that would get the job if its lease ran out
    reserveTimeoutMs: 200,
    handleSignals: false,
    logger: quietLogger(),
    handler: async (job) => {
      runs.push({ attempt: job.attempt, leaseMs: job.leaseMs });
      await sleep(3000);
      return 'done';
    },
  });
  const completed = new Promise((resolve) => worker.on('completed', resolve));
  try {
    const { id } = await c.enqueue('short-lease', 'x', { lease: '1s', attempts: 5 });
    await worker.start();
    await within(completed, 8000, 'completion');
    await sleep(300);
    assert.deepEqual(runs, [{ attempt: 1, leaseMs: 1000 }]);
    const doc = await c.inspect(id);
    assert.equal(doc.state, 'completed');
    assert.equal(doc.attempts, 1);
  } finally {
    await within(worker.stop(), 5000, 'worker.stop');
    await c.close();
    await server.cleanup();
  }
});

// ---------------------------------------------------------------------------------------------
// 9. Per-job log lines

test('one info line per job: id, queue, attempt, delivery, outcome, duration', { timeout: 15_000 }, async () => {
  const server = await startServer();
  const c = await connect({ port: server.port });
  const logger = quietLogger();
  const worker = new Worker({
    port: server.port,
    queues: 'logged',
    reserveTimeoutMs: 200,
    handleSignals: false,
    logger,
    handler: async (job) => {
      await sleep(30);
      if (job.text() === 'bad') throw new Error('no "good"');
      return 'ok';
    },
  });
  try {
    const good = await c.enqueue('logged', 'good');
    const bad = await c.enqueue('logged', 'bad', { attempts: 2, backoff: 'fixed:5s' });
    await worker.start();
    const line = (/** @type {number} */ id) => logger.lines.find((l) => l.startsWith(`info docket worker: job ${id} `));
    await waitFor(() => line(good.id) && line(bad.id), 5000, 'both jobs logged');
    assert.equal((await c.inspect(bad.id)).state, 'delayed');
    assert.match(line(good.id) ?? '', new RegExp(`^info docket worker: job ${good.id} queue=logged attempt=1 delivery=(\\d+|-) outcome=completed duration_ms=\\d+$`));
    assert.match(
      line(bad.id) ?? '',
      new RegExp(`^info docket worker: job ${bad.id} queue=logged attempt=1 delivery=(\\d+|-) outcome=failed duration_ms=\\d+ next=retry retry_in_ms=5000 error="no \\\\"good\\\\""$`),
    );
    assert.ok(Number(/duration_ms=(\d+)/.exec(line(good.id) ?? '')?.[1]) >= 25);
  } finally {
    await within(worker.stop(), 5000, 'worker.stop');
    await c.close();
    await server.cleanup();
  }
});

// ---------------------------------------------------------------------------------------------
// 10. stop() from inside a handler ("run one job, then stop")

test('await worker.stop() inside a handler does not wait for that handler: the job completes and is ACKed once', { timeout: 20_000 }, async () => {
  const server = await startServer();
  const c = await connect({ port: server.port });
  const logger = quietLogger();
  try {
    const { id: self } = await c.enqueue('self-stop', 'stop');
    const { id: other } = await c.enqueue('self-stop', 'other');
    let running = 0;
    /** @type {() => void} */
    let bothRunning = () => {};
    const started = new Promise((r) => (bothRunning = () => r(undefined)));
    /** @type {number|null} */
    let stopTook = null;
    let otherDone = false;
    /** @type {Worker} */
    const worker = new Worker({
      port: server.port,
      queues: 'self-stop',
      concurrency: 2,
      graceMs: 4000, // a stop() that waited for its own handler would take this long
      handleSignals: false,
      logger,
      handler: async (job) => {
        if (++running === 2) bothRunning();
        await started;
        if (job.text() === 'other') {
          await sleep(300);
          otherDone = true;
          return 'other result';
        }
        const t0 = Date.now();
        await worker.stop();
        stopTook = Date.now() - t0;
        assert.equal(otherDone, true, 'stop() resolved once the other slot had finished');
        return 'self result';
      },
    });
    await worker.start();
    await within(worker.stopped, 3000, 'the worker stopped');
    assert.ok(stopTook !== null && stopTook < 2000, `stop() inside the handler took ${stopTook} ms`);
    for (const [id, result] of [[self, 'self result'], [other, 'other result']]) {
      const doc = await c.inspect(id);
      assert.equal(doc.state, 'completed', `job ${id}: ${JSON.stringify(doc)}`);
      assert.equal(doc.attempts, 1);
      assert.equal(doc.result, result);
    }
    assert.ok(!logger.lines.some((l) => l.includes('handed_back')), logger.lines.join('\n'));
    assert.equal(logger.lines.filter((l) => l.includes('outcome=completed')).length, 2, logger.lines.join('\n'));
    assert.equal(worker.clients.every((cl) => cl.isClosed), true);
  } finally {
    await c.close();
    await server.cleanup();
  }
});

// ---------------------------------------------------------------------------------------------
// maxRunTimeMs: a handler that never returns does not hold its job, or its slot, forever

test('a handler past maxRunTimeMs: its signal aborts, its job is FAILed and runs again on the freed slot', { timeout: 20_000 }, async () => {
  const server = await startServer();
  const c = await connect({ port: server.port });
  /** @type {unknown[]} */
  const aborted = [];
  /** @type {any[]} */
  const failed = [];
  /** @type {(v?: unknown) => void} */
  let release = () => {};
  const hung = new Promise((r) => (release = r));
  /** @type {Worker|undefined} */
  let worker;
  try {
    worker = new Worker({
      port: server.port,
      queues: 'overrun',
      concurrency: 1, // the retry can only run if the hung handler gave its slot up
      reserveTimeoutMs: 200,
      maxRunTimeMs: 500,
      handleSignals: false,
      logger: quietLogger(),
      handler: async (job) => {
        if (job.attempt > 1) return 'second run';
        job.signal.addEventListener('abort', () => aborted.push(job.signal.reason.message));
        await hung; // ignores its signal, as a careless handler does: heartbeats would hold it forever
        return 'too late';
      },
    });
    worker.on('failed', (_job, err, outcome) => failed.push([err.message, outcome.outcome]));
    const started = worker;
    const completed = new Promise((resolve) => started.on('completed', (_job, result) => resolve(result)));
    const { id } = await c.enqueue('overrun', 'x', { attempts: 2, backoff: 'fixed:0s' });
    await worker.start();
    assert.equal(await within(completed, 10_000, 'the second run'), 'second run');
    const reason = 'handler ran longer than maxRunTimeMs (500 ms)';
    assert.deepEqual(aborted, [reason]);
    assert.deepEqual(failed, [[reason, 'retry']]);
    release();
    const doc = await c.inspect(id);
    assert.deepEqual([doc.state, doc.attempts, doc.result], ['completed', 2, 'second run']);
    assert.deepEqual(doc.failed_attempts.map((/** @type {any} */ a) => a.error), [reason]);
  } finally {
    release();
    if (worker) await within(worker.stop(), 5000, 'worker.stop');
    await c.close();
    await server.cleanup();
  }
});

test('maxRunTimeMs is checked when the worker is made', () => {
  for (const bad of [0, -1, '5s', true, NaN]) {
    assert.throws(() => new Worker({ queues: 'q', handler: () => {}, maxRunTimeMs: /** @type {any} */ (bad), handleSignals: false }), TypeError);
  }
  assert.equal(new Worker({ queues: 'q', handler: () => {}, maxRunTimeMs: Infinity, handleSignals: false }).maxRunTimeMs, null);
});

// ---------------------------------------------------------------------------------------------
// A handler that blocks the event loop is reported

for (const blocking of [true, false]) {
  test(`the worker warns when a handler blocks the event loop (${blocking ? 'blocking' : 'awaiting'} handler)`, { timeout: 20_000 }, async () => {
    const server = await startServer();
    const c = await connect({ port: server.port });
    const logger = quietLogger();
    const worker = new Worker({
      port: server.port,
      queues: 'blocking',
      reserveTimeoutMs: 200,
      handleSignals: false,
      logger,
      handler: async () => {
        // The careless handler: synchronous work on the event loop (execSync, a big computation).
        if (blocking) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);
        else await sleep(1500);
        return 'done';
      },
    });
    const completed = new Promise((resolve) => worker.on('completed', resolve));
    try {
      const { id } = await c.enqueue('blocking', 'x');
      await worker.start();
      await within(completed, 10_000, 'the job');
      const warned = logger.lines.filter((l) => l.includes('event loop was blocked'));
      if (blocking) {
        assert.equal(warned.length, 1, logger.lines.join('\n'));
        assert.match(warned[0], new RegExp(`^warn docket worker: the event loop was blocked for \\d+\\.\\d s while job\\(s\\) ${id} ran`));
      } else {
        assert.deepEqual(warned, []);
      }
    } finally {
      await within(worker.stop(), 5000, 'worker.stop');
      await c.close();
      await server.cleanup();
    }
  });
}
