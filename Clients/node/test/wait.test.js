// WAIT: a job's outcome (completed with its result, dead with its last error), at once when it is
// already finished, PENDING when the timeout passes first, NOT_FOUND; the OUTCOME/PENDING frames.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { connect, DocketError, InvalidArgument } from '../src/index.js';
import { Parser, encodeWait, route } from '../src/protocol.js';
import { sleep, startServer, within } from '../testkit/helpers.js';

/** @param {string} bytes @returns {any[]} the frames, fed whole and byte by byte (which must agree) */
function parse(bytes) {
  const whole = [];
  new Parser((f) => whole.push(f)).push(Buffer.from(bytes, 'latin1'));
  const single = [];
  const p = new Parser((f) => single.push(f));
  for (const b of Buffer.from(bytes, 'latin1')) p.push(Buffer.from([b]));
  assert.deepEqual(single, whole);
  return whole;
}

test('WAIT bytes, and OUTCOME / PENDING decoded however they are split', () => {
  assert.equal(encodeWait(17).toString(), 'WAIT 17\r\n');
  assert.equal(encodeWait(17, { timeout: 1500 }).toString(), 'WAIT 17 timeout=1500ms\r\n');
  assert.equal(encodeWait('17', { timeout: '10s' }).toString(), 'WAIT 17 timeout=10s\r\n');
  assert.throws(() => encodeWait(0), InvalidArgument);
  assert.throws(() => encodeWait('abc'), InvalidArgument);
  assert.throws(() => encodeWait(1, { timeout: 'soon' }), InvalidArgument);

  const [done] = parse('OUTCOME 5 completed 4\r\nok\r\n\r\n');
  assert.deepEqual(route(done, 'wait').value, { id: 5, state: 'completed', pending: false, result: Buffer.from('ok\r\n'), error: null });
  const [dead] = parse('OUTCOME 6 dead 5\r\nboom!\r\n');
  assert.deepEqual(route(dead, 'wait').value, { id: 6, state: 'dead', pending: false, result: null, error: 'boom!' });
  const [empty] = parse('OUTCOME 7 completed 0\r\n\r\n');
  assert.deepEqual(route(empty, 'wait').value.result, Buffer.alloc(0));
  const [pending] = parse('PENDING 8 waiting\r\n');
  assert.deepEqual(route(pending, 'wait').value, { id: 8, state: 'waiting', pending: true, result: null, error: null });
  const [err] = parse("-ERR 'NOT_FOUND job 9 does not exist'\r\n");
  assert.equal(route(err, 'wait').error?.code, 'NOT_FOUND');

  for (const bad of ['OUTCOME 5 finished 2\r\nok\r\n', 'OUTCOME x completed 0\r\n\r\n', 'OUTCOME 5 completed\r\n', 'PENDING 5\r\n', 'PENDING x waiting\r\n']) {
    assert.throws(() => parse(bad), /OUTCOME|PENDING/, bad);
  }
  // A WAIT answer where another command waits, or none does, breaks the protocol.
  assert.throws(() => route(pending, 'inspect'), /unexpected reply to inspect/);
  assert.throws(() => route(pending, undefined), /no command waiting/);
  assert.throws(() => route(parse('+OK\r\n')[0], 'wait'), /unexpected reply to wait/);
});

test('live: wait() for completed and dead jobs, at once when already finished', { timeout: 8000 }, async () => {
  const server = await startServer();
  const producer = await connect({ port: server.port });
  const waiter = await connect({ port: server.port });
  const worker = await connect({ port: server.port });
  try {
    const ok = await producer.enqueue('w', 'a');
    const bad = await producer.enqueue('w', 'b', { attempts: 1 });
    // WAIT without a timeout waits as long as it takes (no client-side deadline either).
    const okOutcome = waiter.wait(ok.id);
    const badOutcome = producer.wait(bad.id, { timeout: '5s' });
    await sleep(100);
    const j1 = await worker.reserve('w', { timeout: 0 });
    await worker.ack(j1.id, { sent: true }, { attempt: j1.attempt });
    const j2 = await worker.reserve('w', { timeout: 0 });
    assert.deepEqual(await worker.fail(j2.id, { reason: 'SMTP said no', attempt: j2.attempt }), { outcome: 'dead' });
    const o1 = await within(okOutcome, 3000, 'wait completed');
    assert.equal(o1.id, ok.id);
    assert.equal(o1.state, 'completed');
    assert.equal(o1.pending, false);
    assert.deepEqual(JSON.parse(o1.result.toString()), { sent: true });
    assert.equal(o1.error, null);
    const o2 = await within(badOutcome, 3000, 'wait dead');
    assert.deepEqual(o2, { id: bad.id, state: 'dead', pending: false, result: null, error: 'SMTP said no' });
    // Finished already: answered at once, even with timeout 0.
    const started = performance.now();
    assert.equal((await producer.wait(ok.id, { timeout: 0 })).state, 'completed');
    assert.equal((await producer.wait(bad.id)).error, 'SMTP said no');
    assert.ok(performance.now() - started < 1000);
    // A completed job without a result has an empty one.
    const bare = await producer.enqueue('w', 'c');
    const j3 = await worker.reserve('w', { timeout: 0 });
    await worker.ack(j3.id);
    assert.deepEqual((await producer.wait(bare.id)).result, Buffer.alloc(0));
  } finally {
    await Promise.all([producer.close(), waiter.close(), worker.close()]);
    await server.cleanup();
  }
});

test('live: wait() with a timeout resolves pending with the state; unknown and deleted jobs are NOT_FOUND', { timeout: 8000 }, async () => {
  const server = await startServer();
  const c = await connect({ port: server.port });
  const other = await connect({ port: server.port });
  try {
    const { id } = await c.enqueue('w2', 'x');
    const started = performance.now();
    assert.deepEqual(await c.wait(id, { timeout: 200 }), { id, state: 'waiting', pending: true, result: null, error: null });
    assert.ok(performance.now() - started >= 180);
    const delayed = await c.enqueue('w2', 'later', { delay: '1h' });
    assert.equal((await c.wait(delayed.id, { timeout: '0s' })).state, 'delayed');
    const job = await other.reserve('w2', { timeout: 0 });
    assert.equal((await c.wait(job.id, { timeout: 0 })).state, 'active');

    await assert.rejects(c.wait(999_999, { timeout: 0 }), (e) => e instanceof DocketError && e.code === 'NOT_FOUND');
    // Deleted while waited for.
    const waiting = assert.rejects(c.wait(delayed.id), (e) => e instanceof DocketError && e.code === 'NOT_FOUND');
    await sleep(100);
    await other.delete(delayed.id);
    await within(waiting, 3000, 'wait');
    // The connection is still in order.
    assert.equal((await c.inspect(id)).id, id);
  } finally {
    await c.close();
    await other.close();
    await server.cleanup();
  }
});
