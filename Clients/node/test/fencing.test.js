// Attempt fencing and delivery ids (PROTOCOL.md, JOB's lease= and delivery=; attempt= on ACK,
// FAIL, PROGRESS, TOUCH). Live tests skip themselves when the server at DOCKETD does not behave
// that way yet (checked by trying it, see serverFeatures); the worker's side is also checked
// against a fake server, byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';

import { connect, DocketError, Worker } from '../src/index.js';
import { startServer, within, sleep, waitFor, quietLogger, serverFeatures } from '../testkit/helpers.js';
import { fakeServer } from '../testkit/fake-server.js';

/** @param {unknown} e */
const notHeld = (e) => e instanceof DocketError && e.code === 'NOT_HELD';

test('live: JOB carries the lease and a delivery id that is new for every delivery, crashes included', { timeout: 20_000 }, async (t) => {
  let server = await startServer();
  const { port, dataDir } = server;
  try {
    if (!(await serverFeatures(port)).jobFields) return t.skip('this docketd sends no lease=/delivery= in JOB');
    let c = await connect({ port });
    const { id } = await c.enqueue('deliv', 'x', { lease: 200, attempts: 10, backoff: 'fixed:0s' });
    const first = await c.reserve('deliv', { timeout: 0 });
    assert.equal(first?.leaseMs, 200);
    assert.ok(typeof first?.delivery === 'number' || typeof first?.delivery === 'string');
    await sleep(400); // the lease runs out
    const second = await c.reserve('deliv', { timeout: 2000 });
    assert.equal(second?.id, id);
    assert.equal(second?.attempt, 2);
    const seen = new Set([String(first?.delivery), String(second?.delivery)]);
    assert.equal(seen.size, 2);
    await c.close();

    // A reservation that may not have reached the disk before a crash is delivered again,
    // maybe with the same attempt number, but never with the same delivery id.
    await sleep(400);
    c = await connect({ port });
    const third = await c.reserve('deliv', { timeout: 2000 });
    assert.equal(third?.id, id);
    seen.add(String(third?.delivery));
    await server.kill();
    server = await startServer({ port, dataDir });
    await c.close();
    c = await connect({ port });
    const fourth = await c.reserve('deliv', { timeout: 2000 });
    assert.equal(fourth?.id, id);
    assert.ok(!seen.has(String(fourth?.delivery)), `delivery ${fourth?.delivery} handed out twice (${[...seen]})`);
    assert.equal(fourth?.leaseMs, 200);
    await c.ack(id, undefined, { attempt: fourth?.attempt });
    await c.close();
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('live: ACK, FAIL, PROGRESS and TOUCH for an attempt the job has moved past get NOT_HELD', { timeout: 15_000 }, async (t) => {
  const server = await startServer();
  const c = await connect({ port: server.port });
  try {
    if (!(await serverFeatures(server.port)).attemptFencing) return t.skip('this docketd does not fence attempt=');
    const { id } = await c.enqueue('fence', 'x', { lease: 200, attempts: 5, backoff: 'fixed:0s' });
    const one = await c.reserve('fence', { timeout: 0 });
    assert.equal(one?.attempt, 1);
    await c.touch(id, { attempt: 1 });
    await c.progress(id, 10, 'one', { attempt: 1 });
    await sleep(400);
    // The same connection takes the job again: without attempt= its old run's commands would pass.
    const two = await c.reserve('fence', { timeout: 2000 });
    assert.equal(two?.attempt, 2);
    await assert.rejects(c.touch(id, { attempt: 1 }), notHeld);
    await assert.rejects(c.progress(id, 90, 'stale', { attempt: 1 }), notHeld);
    await assert.rejects(c.fail(id, { reason: 'stale', attempt: 1 }), notHeld);
    await assert.rejects(c.ack(id, 'stale', { attempt: 1 }), notHeld);
    await c.progress(id, 50, 'two', { attempt: 2 });
    await c.ack(id, 'fresh', { attempt: 2 });
    const doc = await c.inspect(id);
    assert.equal(doc.state, 'completed');
    assert.equal(doc.result, 'fresh');
    assert.equal(doc.progress_note, 'two');
  } finally {
    await c.close();
    await server.cleanup();
  }
});

test('live: handlers see delivery and leaseMs; $DOCKET.API.RESERVE sends them as headers', { timeout: 15_000 }, async (t) => {
  const server = await startServer();
  const c = await connect({ port: server.port });
  try {
    if (!(await serverFeatures(server.port)).jobFields) return t.skip('this docketd sends no lease=/delivery= in JOB');
    const seen = [];
    const worker = new Worker({
      port: server.port,
      queues: 'ctx',
      reserveTimeoutMs: 200,
      handleSignals: false,
      logger: quietLogger(),
      handler: (job) => {
        seen.push({ attempt: job.attempt, delivery: job.delivery, leaseMs: job.leaseMs });
        return 'ok';
      },
    });
    const { id } = await c.enqueue('ctx', 'x', { lease: '7s' });
    await worker.start();
    await waitFor(async () => (await c.inspect(id)).state === 'completed', 3000, 'completed');
    await within(worker.stop(), 3000, 'worker.stop');
    assert.equal(seen.length, 1);
    assert.equal(seen[0].leaseMs, 7000);
    assert.ok(seen[0].delivery !== null);

    const api = await c.enqueue('api-q', 'y', { lease: '9s' });
    const msg = await c.request('$DOCKET.API.RESERVE.api-q', '', { timeout: 2000 });
    assert.equal(msg.headers?.get('Docket-Job-Id'), String(api.id));
    assert.equal(msg.headers?.get('Docket-Lease-Ms'), '9000');
    assert.match(msg.headers?.get('Docket-Delivery') ?? '', /^[0-9]+$/);
    assert.notEqual(msg.headers?.get('Docket-Delivery'), String(seen[0].delivery));
    await c.ack(api.id);
  } finally {
    await c.close();
    await server.cleanup();
  }
});

// ---------------------------------------------------------------------------------------------
// The worker's side, byte for byte, against fake servers

/**
 * A fake server that hands out one job, then NOJOB; records every line with its time.
 * @param {string} jobLine the JOB reply (control line and payload)
 * @param {(line: string) => string|null} answer the reply to a job command, or null for none (payload lines)
 */
async function oneJobServer(jobLine, answer) {
  /** @type {{line: string, at: number}[]} */
  const lines = [];
  let handedOut = false;
  const fake = await fakeServer((line, socket) => {
    lines.push({ line, at: Date.now() });
    if (line.startsWith('RESERVE ')) {
      if (!handedOut) {
        handedOut = true;
        socket.write(jobLine);
      } else {
        setTimeout(() => socket.write('NOJOB\r\n'), 100);
      }
      return;
    }
    const reply = answer(line);
    if (reply !== null) socket.write(reply);
  });
  return { fake, lines };
}

test('the worker sends attempt= with every job command and heartbeats every third of lease=', { timeout: 15_000 }, async () => {
  const { fake, lines } = await oneJobServer('JOB 7 q 3 lease=300 delivery=9007199254740993 5\r\nhello\r\n', (line) =>
    /^(ACK|FAIL|TOUCH|PROGRESS) /.test(line) ? '+OK\r\n' : null,
  );
  /** @type {any} */
  let ctx;
  const worker = new Worker({
    port: fake.port,
    queues: 'q',
    reserveTimeoutMs: 100,
    handleSignals: false,
    logger: quietLogger(),
    handler: async (job) => {
      ctx = { attempt: job.attempt, delivery: job.delivery, leaseMs: job.leaseMs, text: job.text() };
      await job.progress(10, 'a');
      await job.touch();
      await sleep(650);
      return 'r';
    },
  });
  const completed = new Promise((resolve) => worker.on('completed', resolve));
  try {
    await worker.start();
    await within(completed, 5000, 'completion');
  } finally {
    await within(worker.stop(), 3000, 'worker.stop');
    await fake.close();
  }
  assert.deepEqual(ctx, { attempt: 3, delivery: '9007199254740993', leaseMs: 300, text: 'hello' });
  const commands = lines.map((l) => l.line).filter((l) => /^(ACK|FAIL|TOUCH|PROGRESS) /.test(l));
  assert.equal(commands[0], 'PROGRESS 7 10 attempt=3 1');
  assert.equal(commands[1], 'TOUCH 7 attempt=3');
  assert.equal(commands.at(-1), 'ACK 7 attempt=3 1');
  const beats = lines.filter((l) => l.line === 'TOUCH 7 attempt=3').slice(1);
  assert.ok(beats.length >= 3 && beats.length <= 8, `${beats.length} heartbeats in 650 ms with a 300 ms lease`);
  for (const c of commands) assert.match(c, /^[A-Z]+ 7 (\d+ )?attempt=3\b/);
});

test('against an older server: the lease comes from INSPECT, and commands go without attempt=', { timeout: 15_000 }, async () => {
  const { fake, lines } = await oneJobServer('JOB 8 q 1 3\r\nabc\r\n', (line) => {
    if (line === 'INSPECT 8') {
      const doc = JSON.stringify({ id: 8, queue: 'q', state: 'active', lease_ms: 450 });
      return `JSON ${doc.length}\r\n${doc}\r\n`;
    }
    const m = /^(ACK|FAIL|TOUCH|PROGRESS) .*?(attempt=\d+)/.exec(line);
    if (m) return `-ERR 'BAD_OPTION ${m[2]}: ${m[1]} takes only a job id'\r\n`;
    return /^(ACK|FAIL|TOUCH|PROGRESS) /.test(line) ? '+OK\r\n' : null;
  });
  const logger = quietLogger();
  /** @type {any} */
  let ctx;
  const worker = new Worker({
    port: fake.port,
    queues: 'q',
    reserveTimeoutMs: 100,
    handleSignals: false,
    logger,
    handler: async (job) => {
      await sleep(800);
      ctx = { delivery: job.delivery, leaseMs: job.leaseMs };
      return undefined;
    },
  });
  const completed = new Promise((resolve) => worker.on('completed', resolve));
  try {
    await worker.start();
    await within(completed, 5000, 'completion');
  } finally {
    await within(worker.stop(), 3000, 'worker.stop');
    await fake.close();
  }
  assert.deepEqual(ctx, { delivery: null, leaseMs: 450 });
  const commands = lines.map((l) => l.line).filter((l) => /^(ACK|FAIL|TOUCH|PROGRESS|INSPECT) /.test(l));
  assert.equal(commands[0], 'INSPECT 8');
  // The first TOUCH (150 ms: a third of 450) tries attempt=, is refused, and goes again without;
  // everything after goes without at once.
  assert.deepEqual(commands.slice(1, 3), ['TOUCH 8 attempt=1', 'TOUCH 8']);
  assert.deepEqual(new Set(commands.slice(3)), new Set(['TOUCH 8', 'ACK 8']));
  assert.equal(commands.at(-1), 'ACK 8');
  const beats = commands.filter((l) => l.startsWith('TOUCH'));
  assert.ok(beats.length >= 4 && beats.length <= 8, `${beats.length} TOUCH lines`);
  assert.equal(logger.lines.filter((l) => /does not know attempt=/.test(l)).length, 1);
});
