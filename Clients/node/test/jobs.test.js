import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { connect, DocketError, InvalidArgument } from '../src/index.js';
import { startServer, within, sleep } from '../testkit/helpers.js';

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

test('enqueue, reserve, ack with a result', { timeout: 10_000 }, async () => {
  const { id, duplicate } = await c.enqueue('emails', { to: 'a@example.com' });
  assert.equal(typeof id, 'number');
  assert.equal(duplicate, false);
  const job = await c.reserve('emails', { timeout: 1000 });
  assert.ok(job);
  assert.equal(job.id, id);
  assert.equal(job.queue, 'emails');
  assert.equal(job.attempt, 1);
  assert.deepEqual(JSON.parse(job.payload.toString()), { to: 'a@example.com' });
  await c.ack(job.id, 'sent');
  const doc = await c.inspect(id);
  assert.equal(doc.state, 'completed');
  assert.equal(doc.result, 'sent');
  assert.equal(await c.reserve('emails', { timeout: 0 }), null);
});

test('pipelined commands get their own replies in order', { timeout: 10_000 }, async () => {
  const ids = await Promise.all(Array.from({ length: 200 }, (_, i) => c.enqueue('pipe', `job ${i}`)));
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i].id > ids[i - 1].id);
  const jobs = await Promise.all(ids.map(() => c.reserve('pipe', { timeout: 0 })));
  assert.deepEqual(jobs.map((j) => j?.payload.toString()), ids.map((_, i) => `job ${i}`));
  const mixed = await Promise.allSettled([c.ack(jobs[0].id), c.ack(jobs[0].id), c.inspect(jobs[1].id), c.touch(999999)]);
  assert.equal(mixed[0].status, 'fulfilled');
  assert.equal(mixed[1].status, 'rejected');
  assert.equal(mixed[1].reason.code, 'NOT_HELD');
  assert.equal(mixed[2].status, 'fulfilled');
  assert.equal(mixed[2].value.state, 'active');
  assert.equal(mixed[3].status, 'rejected');
  assert.equal(mixed[3].reason.code, 'NOT_FOUND');
  await Promise.all(jobs.slice(1).map((j) => c.ack(j.id)));
});

test('enqueue options, durations and idempotency keys', { timeout: 10_000 }, async () => {
  const a = await c.enqueue('opts', 'x', { key: 'order-7', priority: 5, attempts: 7, backoff: 'fixed:2s', jitter: 0.25, lease: '45s' });
  const b = await c.enqueue('opts', 'y', { key: 'order-7' });
  assert.deepEqual(b, { id: a.id, duplicate: true, replaced: false });
  const doc = await c.inspect(a.id);
  assert.equal(doc.priority, 5);
  assert.equal(doc.max_attempts, 7);
  assert.equal(doc.lease_ms, 45_000);
  assert.equal(doc.key, 'order-7');
  assert.equal(doc.jitter, 0.25);

  const hi = await c.enqueue('opts', 'first', { priority: -1, backoff: { type: 'exp', base: 500, cap: '1m' } });
  assert.equal((await c.inspect(hi.id)).backoff, 'exp:500ms:60000ms');
  const d = await c.enqueue('opts', 'later', { delay: 300 });
  const at = await c.enqueue('opts', 'at', { at: new Date(Date.now() + 3_600_000) });
  assert.equal((await c.inspect(d.id)).state, 'delayed');
  assert.equal((await c.inspect(at.id)).state, 'delayed');

  assert.equal((await c.reserve('opts', { timeout: 0 }))?.id, hi.id);
  assert.equal((await c.reserve('opts', { timeout: 0 }))?.id, a.id);
  assert.equal(await c.reserve('opts', { timeout: 0 }), null);
  const started = Date.now();
  const late = await c.reserve(['nothing-here', 'opts'], { timeout: '2s' });
  assert.equal(late?.id, d.id);
  assert.ok(Date.now() - started < 1500);

  // Checked before sending ...
  await assert.rejects(c.enqueue('bad!queue', 'x'), InvalidArgument);
  await assert.rejects(c.enqueue('opts', 'x', { attempts: 0 }), InvalidArgument);
  await assert.rejects(c.enqueue('opts', 'x', { backoff: 'linear:5s' }), InvalidArgument);
  // ... or by the server.
  await assert.rejects(c.command(Buffer.from('ENQ opts backoff=linear:5s 1\r\nx\r\n'), 'enqueue'), (e) => e instanceof DocketError && e.code === 'BAD_OPTION');
  await assert.rejects(c.command(Buffer.from('RESERVE\r\n'), 'reserve'), (e) => e instanceof DocketError && e.code === 'BAD_QUEUE');
  await assert.rejects(c.enqueue('opts', 'x', { delay: '1.5s' }), InvalidArgument);
  await assert.rejects(c.enqueue('has space', 'x'), InvalidArgument);
  await assert.rejects(c.ack('abc'), InvalidArgument);
});

test('fail with retries, backoff, retry=no and attempts exhausted', { timeout: 10_000 }, async () => {
  const { id } = await c.enqueue('flaky', 'p', { attempts: 3, backoff: 'fixed:5s' });
  let job = await c.reserve('flaky', { timeout: 0 });
  assert.deepEqual(await c.fail(id, { reason: new Error('boom') }), { outcome: 'retry', delayMs: 5000 });
  let doc = await c.inspect(id);
  assert.equal(doc.state, 'delayed');
  assert.equal(doc.last_error, 'boom');
  // The attempt history: the failed attempt, its times and reason.
  assert.deepEqual(doc.failed_attempts.map((a) => [a.attempt, a.error]), [[1, 'boom']]);
  assert.ok(doc.failed_attempts[0].started_at <= doc.failed_attempts[0].ended_at);

  // Force it back now: a dead job can be retried; a delayed one is re-enqueued by hand here.
  await c.delete(id);
  const again = await c.enqueue('flaky', 'p', { attempts: 2 });
  job = await c.reserve('flaky', { timeout: 0 });
  assert.equal(job?.id, again.id);
  assert.deepEqual(await c.fail(again.id, { reason: 'try soon', retry: 50 }), { outcome: 'retry', delayMs: 50 });
  job = await c.reserve('flaky', { timeout: 2000 });
  assert.equal(job?.attempt, 2);
  assert.deepEqual(await c.fail(again.id, { reason: 'last' }), { outcome: 'dead' });
  doc = await c.inspect(again.id);
  assert.equal(doc.state, 'dead');
  assert.equal(doc.attempts, 2);

  const nr = await c.enqueue('flaky', 'q', { attempts: 5 });
  await c.reserve('flaky', { timeout: 0 });
  assert.deepEqual(await c.fail(nr.id, { reason: 'bad input', retry: false }), { outcome: 'dead' });
  assert.equal((await c.inspect(nr.id)).last_error, 'bad input');

  await assert.rejects(c.fail(nr.id), (e) => e instanceof DocketError && e.code === 'NOT_HELD');
  await assert.rejects(c.fail(123456789), (e) => e instanceof DocketError && e.code === 'NOT_FOUND');
});

test('progress and touch extend the lease and are recorded', { timeout: 10_000 }, async () => {
  const { id } = await c.enqueue('prog', 'p', { lease: 400 });
  await c.reserve('prog', { timeout: 0 });
  for (let i = 1; i <= 4; i++) {
    await sleep(150);
    if (i % 2) await c.progress(id, i * 20, `step ${i}`);
    else await c.touch(id);
  }
  const doc = await c.inspect(id);
  assert.equal(doc.state, 'active');
  assert.equal(doc.progress, 60);
  assert.equal(doc.progress_note, 'step 3');
  assert.equal(doc.attempts, 1);
  await assert.rejects(c.progress(id, 101), InvalidArgument);
  await c.ack(id);

  // Without heartbeats the lease runs out and the job is lost to the retry policy.
  const lost = await c.enqueue('prog', 'p', { lease: 200, backoff: 'fixed:0s' });
  await c.reserve('prog', { timeout: 0 });
  await sleep(400);
  await assert.rejects(c.touch(lost.id), (e) => e instanceof DocketError && e.code === 'NOT_HELD');
  const back = await c.reserve('prog', { timeout: 2000 });
  assert.equal(back?.id, lost.id);
  assert.equal(back?.attempt, 2);
  await c.ack(lost.id);
});

test('inspect, dead, retry, retryQueue and delete', { timeout: 10_000 }, async () => {
  const ids = [];
  for (let i = 0; i < 3; i++) {
    const { id } = await c.enqueue('graveyard', `p${i}`, { attempts: 1 });
    await c.reserve('graveyard', { timeout: 0 });
    assert.deepEqual(await c.fail(id, { reason: `r${i}` }), { outcome: 'dead' });
    ids.push(id);
  }
  let dead = await c.dead('graveyard');
  assert.deepEqual(dead.map((d) => d.id), ids);
  assert.deepEqual(dead.map((d) => d.last_error), ['r0', 'r1', 'r2']);
  assert.equal((await c.dead('graveyard', { limit: 2 })).length, 2);

  await c.retry(ids[0]);
  assert.equal((await c.inspect(ids[0])).state, 'waiting');
  await assert.rejects(c.retry(ids[0]), (e) => e instanceof DocketError && e.code === 'NOT_DEAD');
  assert.equal(await c.retryQueue('graveyard'), 2);
  dead = await c.dead('graveyard');
  assert.deepEqual(dead, []);

  await c.delete(ids[1]);
  await assert.rejects(c.inspect(ids[1]), (e) => e instanceof DocketError && e.code === 'NOT_FOUND' && /does not exist/.test(e.message));
  await assert.rejects(c.delete(ids[1]), (e) => e.code === 'NOT_FOUND');
  const left = [];
  for (;;) {
    const j = await c.reserve('graveyard', { timeout: 0 });
    if (!j) break;
    left.push(j.id);
    await c.ack(j.id);
  }
  assert.deepEqual(left.sort((x, y) => x - y), [ids[0], ids[2]]);
  assert.match(await c.help(), /RESERVE/);
});

test('a reserve that waits is woken by an enqueue on another connection', { timeout: 10_000 }, async () => {
  const worker = await connect({ port: server.port });
  try {
    const waiting = worker.reserve('wake');
    await sleep(100);
    const { id } = await c.enqueue('wake', 'now');
    const job = await within(waiting, 2000, 'reserve');
    assert.equal(job?.id, id);
    await worker.ack(id);
  } finally {
    await worker.close();
  }
});
