// Restart under load, short form: 2,000 keyed jobs go through a 4-slot worker while the server is
// stopped with SIGTERM and later killed with SIGKILL, each time restarted on the same data dir and
// port. Every job must complete; a job may run again only when the ACK of its earlier run was
// never confirmed (the server could not have known it was done).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';

import { connect, ConnectionLost, TimeoutError, Worker } from '../src/index.js';
import { startServer, within, sleep, waitFor, quietLogger, lmdbOnly } from '../testkit/helpers.js';

const N = 2000;
const CONCURRENCY = 4;
const SERVER_ARGS = ['--shutdown-grace', '1s', '--keep-completed', '5000'];
// Alone the run takes about 4 s; under CI's parallel lanes it took 25 s, and a phase bound of 15 s
// failed with every job completed a moment later. The jobs' lease is longer than the whole run may
// take, so a job that waited for its lease to end instead of coming back at once still fails it.
const PHASE_MS = 30_000;
const LEASE_MS = 120_000;

// Held jobs come back at the restart on the embedded store, at their lease's end on PostgreSQL.
test('restart under load: 2,000 keyed jobs, the server SIGTERMed then killed mid-way', { timeout: 180_000, skip: lmdbOnly }, async (t) => {
  /** @type {unknown[]} */
  const unhandled = [];
  const onUnhandled = (/** @type {unknown} */ e) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);

  let server = await startServer({ args: SERVER_ARGS });
  const { port, dataDir } = server;
  const connection = { port, reconnectDelayMs: 20, maxReconnectDelayMs: 100, commandTimeoutMs: 5000 };

  /** @type {{id: number, delivery: number|string|null, attempt: number}[]} every run, in order */
  const runs = [];
  /** runs whose ACK the server confirmed (index into runs) */
  const acked = new Set();
  const logger = quietLogger();
  const worker = new Worker({
    ...connection,
    queues: 'load',
    concurrency: CONCURRENCY,
    reserveTimeoutMs: 500,
    handleSignals: false,
    logger,
    handler: async (job) => {
      const run = runs.length;
      runs.push({ id: job.id, delivery: job.delivery, attempt: job.attempt });
      await new Promise((r) => setImmediate(r));
      return String(run);
    },
  });
  worker.on('completed', (_job, result) => acked.add(Number(result)));

  const producer = await connect(connection);
  /** @type {Map<string, number>} key → job id */
  const ids = new Map();
  let retries = 0;
  /** Enqueues one job; a command that may or may not have happened is repeated with its key. */
  const enqueue = async (/** @type {number} */ i) => {
    const key = `load-${i}`;
    for (;;) {
      try {
        const { id } = await producer.enqueue('load', { i }, { key, attempts: 10, backoff: 'fixed:0s', lease: `${LEASE_MS / 1000}s` });
        const known = ids.get(key);
        if (known !== undefined) assert.equal(id, known, `key ${key} names two jobs`);
        ids.set(key, id);
        return;
      } catch (err) {
        if (!(err instanceof ConnectionLost || err instanceof TimeoutError)) throw err;
        retries++;
        await sleep(20);
      }
    }
  };

  try {
    await worker.start();
    // 8 lanes, each enqueueing one job after the other, at most 300 jobs ahead of the worker: the
    // restarts find ENQs in flight.
    const producing = Promise.all(
      Array.from({ length: 8 }, async (_, lane) => {
        for (let i = lane; i < N; i += 8) {
          while (i - acked.size > 300) await sleep(5);
          await enqueue(i);
        }
      }),
    );
    const t0 = Date.now();

    await waitFor(() => acked.size >= N * 0.3, PHASE_MS, '30% done');
    await server.stop(); // SIGTERM: connections closed first, held jobs are "worker lost"
    server = await startServer({ port, dataDir, args: SERVER_ARGS });

    await waitFor(() => acked.size >= N * 0.65, PHASE_MS, '65% done');
    await server.kill(); // SIGKILL: nothing is flushed, nothing said
    server = await startServer({ port, dataDir, args: SERVER_ARGS });

    await within(producing, PHASE_MS, 'producer');
    assert.equal(ids.size, N);
    assert.equal(new Set(ids.values()).size, N, 'one job per key');
    const checker = await connect({ port });
    try {
      await waitFor(async () => {
        const docs = await Promise.all([...ids.values()].map((id) => checker.inspect(id)));
        return docs.every((d) => d.state === 'completed');
      }, PHASE_MS, 'every job completed');
      const docs = await Promise.all([...ids.values()].map((id) => checker.inspect(id)));
      const states = new Map();
      for (const d of docs) states.set(d.state, (states.get(d.state) ?? 0) + 1);
      assert.deepEqual([...states], [['completed', N]]);
    } finally {
      await checker.close();
    }
    const took = Date.now() - t0;

    // A job runs again only where the ACK of its earlier run was never confirmed: at most one
    // job per slot can be caught that way by each of the two restarts.
    /** @type {Map<number, number[]>} job id → its runs */
    const byJob = new Map();
    runs.forEach((r, i) => byJob.set(r.id, [...(byJob.get(r.id) ?? []), i]));
    assert.equal(byJob.size, N);
    const extra = runs.length - N;
    for (const [id, list] of byJob) {
      for (const earlier of list.slice(0, -1)) assert.ok(!acked.has(earlier), `job ${id} ran again after its ACK was confirmed`);
    }
    assert.ok(extra <= 2 * CONCURRENCY, `${extra} extra runs`);
    // Delivery ids are unique across both restarts.
    if (runs.every((r) => r.delivery !== null)) {
      assert.equal(new Set(runs.map((r) => String(r.delivery))).size, runs.length, 'a delivery id was handed out twice');
    }
    assert.deepEqual(unhandled, []);
    assert.ok(took < LEASE_MS, `took ${took} ms: a job waited for its lease`);
    t.diagnostic(`restart-load: ${runs.length} runs (${extra} again), ${retries} ENQ retries, ${took} ms`);
  } finally {
    await within(worker.stop({ graceMs: 1000 }), 5000, 'worker.stop');
    await producer.close();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
    process.off('unhandledRejection', onUnhandled);
    process.off('uncaughtException', onUnhandled);
  }
});
