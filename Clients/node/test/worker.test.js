import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { connect, Worker, NonRetryableError, RetryAfterError } from '../src/index.js';
import { startServer, within, sleep, waitFor, quietLogger } from '../testkit/helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** @type {import('../testkit/helpers.js').Server} */
let server;
/** @type {import('../src/index.js').Client} */
let c;
before(async () => {
  server = await startServer();
  c = await connect({ port: server.port });
});
after(async () => {
  await c?.close();
  await server?.cleanup();
});

test('4 connections share 40 jobs, each done exactly once', { timeout: 20_000 }, async () => {
  const ids = [];
  for (let i = 0; i < 40; i++) ids.push((await c.enqueue('conc', { n: i })).id);
  /** @type {Map<number, number>} */
  const runs = new Map();
  let running = 0;
  let maxRunning = 0;
  const worker = new Worker({
    port: server.port,
    queues: 'conc',
    concurrency: 4,
    reserveTimeoutMs: 200,
    handleSignals: false,
    logger: quietLogger(),
    handler: async (job) => {
      runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
      running++;
      maxRunning = Math.max(maxRunning, running);
      await sleep(20);
      running--;
      return { doubled: job.json().n * 2 };
    },
  });
  let completed = 0;
  worker.on('completed', () => completed++);
  await worker.start();
  assert.equal(worker.clients.length, 4);
  try {
    await waitFor(() => completed === 40, 10_000, '40 completions');
  } finally {
    await within(worker.stop(), 5000, 'worker.stop');
  }
  assert.equal(runs.size, 40);
  for (const id of ids) assert.equal(runs.get(id), 1, `job ${id} ran ${runs.get(id)} times`);
  assert.equal(maxRunning, 4);
  const doc = await c.inspect(ids[7]);
  assert.equal(doc.state, 'completed');
  assert.deepEqual(JSON.parse(doc.result), { doubled: 14 });
});

test('heartbeats keep a long job from being delivered again', { timeout: 20_000 }, async () => {
  const { id } = await c.enqueue('long', 'slow', { lease: 500 });
  const attempts = [];
  const worker = new Worker({
    port: server.port,
    queues: 'long',
    concurrency: 2, // a second connection that would get the job if the lease ran out
    heartbeatMs: 150,
    reserveTimeoutMs: 200,
    handleSignals: false,
    logger: quietLogger(),
    handler: async (job) => {
      attempts.push(job.attempt);
      await job.progress(10, 'started');
      await sleep(1500);
      return 'done';
    },
  });
  const done = new Promise((resolve) => worker.on('completed', resolve));
  await worker.start();
  try {
    await within(done, 5000, 'completion');
  } finally {
    await within(worker.stop(), 5000, 'worker.stop');
  }
  assert.deepEqual(attempts, [1]);
  const doc = await c.inspect(id);
  assert.equal(doc.state, 'completed');
  assert.equal(doc.attempts, 1);
  assert.equal(doc.progress_note, 'started');
});

test('handler errors: retry policy, RetryAfterError, NonRetryableError', { timeout: 20_000 }, async () => {
  const plain = await c.enqueue('errs', 'plain', { attempts: 2, backoff: 'fixed:0s' });
  const after = await c.enqueue('errs', 'after', { attempts: 3 });
  const fatal = await c.enqueue('errs', 'fatal', { attempts: 5 });
  const seen = [];
  const worker = new Worker({
    port: server.port,
    queues: ['errs'],
    concurrency: 1,
    reserveTimeoutMs: 100,
    handleSignals: false,
    logger: quietLogger(),
    handler: async (job) => {
      const what = job.text();
      seen.push(`${what}#${job.attempt}`);
      if (what === 'plain') throw new Error('plain failure');
      if (what === 'after') {
        if (job.attempt === 1) throw new RetryAfterError(100, 'not yet');
        return 'ok';
      }
      throw new NonRetryableError('malformed');
    },
  });
  const outcomes = [];
  worker.on('failed', (job, err, outcome) => outcomes.push([job.id, err.message, outcome]));
  await worker.start();
  try {
    await waitFor(async () => (await c.inspect(plain.id)).state === 'dead' && (await c.inspect(after.id)).state === 'completed' && (await c.inspect(fatal.id)).state === 'dead', 8000, 'outcomes');
  } finally {
    await within(worker.stop(), 5000, 'worker.stop');
  }
  assert.deepEqual(seen.filter((s) => s.startsWith('plain')), ['plain#1', 'plain#2']);
  assert.deepEqual(seen.filter((s) => s.startsWith('fatal')), ['fatal#1']);
  assert.deepEqual(seen.filter((s) => s.startsWith('after')), ['after#1', 'after#2']);
  assert.deepEqual(outcomes.find((o) => o[0] === after.id), [after.id, 'not yet', { outcome: 'retry', delayMs: 100 }]);
  assert.deepEqual(outcomes.find((o) => o[0] === fatal.id), [fatal.id, 'malformed', { outcome: 'dead' }]);
  assert.equal((await c.inspect(plain.id)).last_error, 'plain failure');
});

test('stop() lets jobs in flight finish, and takes no new ones', { timeout: 20_000 }, async () => {
  for (let i = 0; i < 6; i++) await c.enqueue('graceful', String(i));
  let started = 0;
  const finished = [];
  const worker = new Worker({
    port: server.port,
    queues: 'graceful',
    concurrency: 3,
    reserveTimeoutMs: 200,
    graceMs: 5000,
    handleSignals: false,
    logger: quietLogger(),
    handler: async (job) => {
      started++;
      await sleep(500);
      finished.push(job.id);
    },
  });
  await worker.start();
  await waitFor(() => started === 3, 3000, 'three jobs started');
  const t0 = Date.now();
  await within(worker.stop(), 5000, 'worker.stop');
  assert.ok(Date.now() - t0 < 2000);
  assert.equal(finished.length, 3);
  assert.equal(started, 3);
  for (const id of finished) assert.equal((await c.inspect(id)).state, 'completed');
  // the three others are still waiting
  let left = 0;
  for (;;) {
    const j = await c.reserve('graceful', { timeout: 0 });
    if (!j) break;
    left++;
    await c.ack(j.id);
  }
  assert.equal(left, 3);
});

test('stop() fails jobs still running when the grace period ends', { timeout: 20_000 }, async () => {
  const { id } = await c.enqueue('stuck', 'x', { attempts: 3 });
  let aborted = false;
  const worker = new Worker({
    port: server.port,
    queues: 'stuck',
    reserveTimeoutMs: 100,
    graceMs: 300,
    handleSignals: false,
    logger: quietLogger(),
    handler: (job) =>
      new Promise((resolve) => {
        job.signal.addEventListener('abort', () => {
          aborted = true;
          setTimeout(resolve, 50); // finishing late must not ACK
        });
      }),
  });
  await worker.start();
  await waitFor(async () => (await c.inspect(id)).state === 'active', 3000, 'job active');
  const t0 = Date.now();
  await within(worker.stop(), 3000, 'worker.stop');
  assert.ok(Date.now() - t0 < 2500);
  assert.equal(aborted, true);
  await sleep(100);
  const doc = await c.inspect(id);
  assert.equal(doc.state, 'waiting');
  assert.equal(doc.last_error, 'worker stopped before the job finished');
  const again = await c.reserve('stuck', { timeout: 0 });
  assert.equal(again?.attempt, 2);
  await c.ack(id);
});

test('SIGTERM stops a worker process gracefully', { timeout: 20_000 }, async () => {
  const { id } = await c.enqueue('sigterm', 'x');
  const child = spawn(process.execPath, [path.join(here, '..', 'testkit', 'worker-process.js'), String(server.port), 'sigterm', '700'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  try {
    await waitFor(() => out.includes(`started ${id}`), 5000, 'job started in child');
    child.kill('SIGTERM');
    const { code } = await within(exited, 5000, 'child exit');
    assert.equal(code, 0);
    assert.match(out, new RegExp(`completed ${id}`));
    assert.match(out, /stopped/);
    assert.equal((await c.inspect(id)).state, 'completed');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
