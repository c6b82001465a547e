// AbortSignal on the calls that wait (reserve, wait, flush, request, publishRouted), as fetch()
// and nats.js take it: an abort rejects with the signal's reason, an aborted signal sends nothing,
// and a reply that comes after the abort is never given to another caller.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { connect, InvalidArgument } from '../src/index.js';
import { fakeServer } from '../testkit/fake-server.js';
import { nextMsg, startServer, within } from '../testkit/helpers.js';

test('an aborted reserve() rejects with the reason and ends the server\'s wait: the connection is free, no attempt used', { timeout: 20_000 }, async () => {
  const server = await startServer();
  const worker = await connect({ port: server.port });
  const producer = await connect({ port: server.port });
  try {
    const ac = new AbortController();
    const reason = new Error('shutting down');
    const reserving = worker.reserve('abort-q', { signal: ac.signal });
    ac.abort(reason);
    await assert.rejects(within(reserving, 3000, 'the aborted reserve'), (e) => e === reason);
    // The client sent CANCEL behind it: the worker's next command is answered at once (before,
    // the server read nothing more until a job came, then the job went back as a used attempt).
    await within(worker.flush(), 3000, 'flush after the abort');

    const { id } = await producer.enqueue('abort-q', 'late', { attempts: 3 });
    const again = await within(producer.reserve('abort-q', { timeout: '10s' }), 12_000, 'the job');
    assert.equal(again?.id, id);
    assert.equal(again?.attempt, 1);
    // The worker reserves as before.
    const next = await producer.enqueue('abort-q', 'next');
    const mine = await within(worker.reserve('abort-q', { timeout: '10s' }), 12_000, 'the worker\'s next job');
    assert.equal(mine?.id, next.id);
  } finally {
    await Promise.all([worker.close(), producer.close()]);
    await server.cleanup();
  }
});

test('a job that comes to an aborted reserve() with commands behind it is given back, not handed on', { timeout: 20_000 }, async () => {
  const server = await startServer();
  const worker = await connect({ port: server.port });
  const producer = await connect({ port: server.port });
  try {
    const ac = new AbortController();
    const reserving = worker.reserve('abort-b', { timeout: '30s', signal: ac.signal });
    const flushed = worker.flush({ timeout: 20_000 }); // written behind the RESERVE: no CANCEL
    ac.abort();
    await assert.rejects(within(reserving, 3000, 'the aborted reserve'), (e) => e.name === 'AbortError');
    const { id } = await producer.enqueue('abort-b', 'late', { attempts: 3 });
    await within(flushed, 12_000, 'the flush behind the RESERVE');
    const again = await within(producer.reserve('abort-b', { timeout: '10s' }), 12_000, 'the job given back');
    assert.equal(again?.id, id);
    assert.equal(again?.attempt, 2);
  } finally {
    await Promise.all([worker.close(), producer.close()]);
    await server.cleanup();
  }
});

test('an aborted wait() and flush() reject with the reason; later calls get their own replies', { timeout: 20_000 }, async () => {
  const server = await startServer();
  const c = await connect({ port: server.port });
  const other = await connect({ port: server.port });
  try {
    const { id } = await other.enqueue('abort-w', 'x');
    const ac = new AbortController();
    const waiting = c.wait(id, { timeout: '2s', signal: ac.signal });
    const flushing = c.flush({ signal: ac.signal }); // behind the WAIT on the server
    ac.abort();
    for (const p of [waiting, flushing]) {
      await assert.rejects(within(p, 3000, 'the aborted call'), (e) => e instanceof Error && e.name === 'AbortError');
    }
    // The WAIT's PENDING and the PING's PONG come later and are dropped.
    const outcome = await within(c.wait(id, { timeout: 0 }), 5000, 'a new wait');
    assert.deepEqual([outcome.id, outcome.pending, outcome.state], [id, true, 'waiting']);
    await within(c.flush(), 3000, 'flush');
  } finally {
    await Promise.all([c.close(), other.close()]);
    await server.cleanup();
  }
});

test('an aborted wait() ends the server\'s wait as an aborted reserve() does: the connection is free', { timeout: 20_000 }, async () => {
  const server = await startServer();
  const c = await connect({ port: server.port });
  const other = await connect({ port: server.port });
  try {
    const { id } = await other.enqueue('abort-wc', 'x');
    const ac = new AbortController();
    const waiting = c.wait(id, { signal: ac.signal }); // no timeout: the server waits for the outcome
    ac.abort();
    await assert.rejects(within(waiting, 3000, 'the aborted wait'), (e) => e instanceof Error && e.name === 'AbortError');
    // The client sent CANCEL behind it: the next command is answered at once (before, the
    // server read nothing more from this connection until the job finished).
    await within(c.flush(), 3000, 'flush after the abort');
    assert.equal((await within(c.inspect(id), 3000, 'inspect')).state, 'waiting');
  } finally {
    await Promise.all([c.close(), other.close()]);
    await server.cleanup();
  }
});

test('an aborted request() rejects with the reason, and its late reply goes to nobody', { timeout: 20_000 }, async () => {
  const server = await startServer();
  const c = await connect({ port: server.port });
  const responder = await connect({ port: server.port });
  try {
    const sub = responder.subscribe('abort.svc');
    await responder.flush();
    const ac = new AbortController();
    const first = c.request('abort.svc', 'one', { timeout: 10_000, signal: ac.signal });
    const held = await nextMsg(sub, 3000);
    ac.abort('gave up');
    await assert.rejects(within(first, 3000, 'the aborted request'), (e) => e === 'gave up');

    const second = c.request('abort.svc', 'two', { timeout: 5000 });
    const next = await nextMsg(sub, 3000);
    held.respond('answer to one'); // after the abort: must not answer the second request
    next.respond('answer to two');
    assert.equal((await within(second, 5000, 'the second request')).string(), 'answer to two');
  } finally {
    await Promise.all([c.close(), responder.close()]);
    await server.cleanup();
  }
});

test('an already aborted signal rejects at once and sends nothing; a signal that is not one is refused', { timeout: 10_000 }, async () => {
  /** @type {string[]} */
  const lines = [];
  const fake = await fakeServer((line, socket) => {
    lines.push(line);
    if (line === 'PING') socket.write('PONG\r\n');
  });
  const c = await connect({ port: fake.port });
  try {
    const reason = new Error('already');
    const signal = AbortSignal.abort(reason);
    for (const call of [
      () => c.reserve('q', { signal }),
      () => c.wait(1, { signal }),
      () => c.flush({ signal }),
      () => c.request('svc', 'x', { signal }),
      () => c.publishRouted('orders.new', '{}', { signal }),
    ]) {
      await assert.rejects(call(), (e) => e === reason);
    }
    for (const bad of [true, 'abort', {}, { aborted: false }]) {
      await assert.rejects(c.reserve('q', { signal: /** @type {any} */ (bad) }), InvalidArgument);
      await assert.rejects(c.request('svc', 'x', { signal: /** @type {any} */ (bad) }), InvalidArgument);
    }
    await within(c.flush(), 3000, 'flush');
    assert.deepEqual(lines, ['PING']);
  } finally {
    await c.close();
    await fake.close();
  }
});
