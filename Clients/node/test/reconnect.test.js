import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';

import { connect, ConnectionLost, ConnectionClosed } from '../src/index.js';
import { startServer, within, nextMsg, waitFor } from '../testkit/helpers.js';

test('reconnects after a server restart on the same data dir and port', { timeout: 30_000 }, async () => {
  let server = await startServer();
  const { port, dataDir } = server;
  const c = await connect({ port, reconnectDelayMs: 20, maxReconnectDelayMs: 200 });
  const blocked = await connect({ port, reconnectDelayMs: 20, maxReconnectDelayMs: 200 });
  const events = [];
  c.on('disconnect', () => events.push('disconnect'));
  c.on('reconnect', () => events.push('reconnect'));
  try {
    const sub = c.subscribe('events.>');
    const silent = c.subscribe('never.answers');
    const { id } = await c.enqueue('durable', 'survives');
    await c.flush();

    // In flight when the server goes: a RESERVE that waits, a request nobody answers.
    const waiting = blocked.reserve('empty-queue');
    const pendingRequest = c.request('never.answers', 'x', { timeout: 20_000 });
    await waitFor(() => silent.received === 1, 2000, 'request delivered');
    const waitingOutcome = waiting.then(() => 'resolved', (e) => e);
    const requestOutcome = pendingRequest.then(() => 'resolved', (e) => e);

    await server.stop();
    assert.ok((await within(waitingOutcome, 5000, 'reserve rejection')) instanceof ConnectionLost);
    assert.ok((await within(requestOutcome, 5000, 'request rejection')) instanceof ConnectionLost);
    await waitFor(() => events.includes('disconnect'), 2000, 'disconnect event');

    // Commands made while the server is down are held and sent after the reconnect.
    const heldEnqueue = c.enqueue('durable', 'sent later');
    c.publish('events.while-down', 'held');

    server = await startServer({ port, dataDir });
    await waitFor(() => events.includes('reconnect'), 5000, 'reconnect event');
    assert.equal(c.isConnected, true);

    const later = await within(heldEnqueue, 3000, 'held enqueue');
    assert.ok(later.id > id);
    assert.equal((await nextMsg(sub)).subject, 'events.while-down');

    // The subscription was made again on the new connection.
    const other = await connect({ port });
    other.publish('events.after', 'hello again');
    await other.flush();
    const m = await nextMsg(sub);
    assert.equal(m.subject, 'events.after');
    assert.equal(m.string(), 'hello again');
    await other.close();

    // The job enqueued before the restart is still there.
    const job = await c.reserve('durable', { timeout: 0 });
    assert.equal(job?.id, id);
    assert.equal(job?.payload.toString(), 'survives');
    await c.ack(job.id);
    await waitFor(() => blocked.isConnected, 5000, 'second client reconnected');
    assert.equal((await blocked.reserve('durable', { timeout: 0 }))?.id, later.id);
    assert.deepEqual(events, ['disconnect', 'reconnect']);
  } finally {
    await c.close();
    await blocked.close();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('close() rejects what waits and stops reconnecting', { timeout: 15_000 }, async () => {
  const server = await startServer();
  try {
    const c = await connect({ port: server.port });
    const waiting = c.reserve('nothing');
    const sub = c.subscribe('x');
    const closed = c.close();
    await assert.rejects(within(waiting, 2000, 'reserve'), ConnectionClosed);
    await within(closed, 2000, 'close');
    await within(sub.closed, 1000, 'subscription end');
    await assert.rejects(c.enqueue('q', 'x'), ConnectionClosed);
    assert.throws(() => c.publish('x', 'y'), ConnectionClosed);
  } finally {
    await server.cleanup();
  }
});

test('gives up after maxReconnectAttempts', { timeout: 15_000 }, async () => {
  const server = await startServer();
  const c = await connect({ port: server.port, reconnectDelayMs: 100, maxReconnectDelayMs: 100, maxReconnectAttempts: 3 });
  const closed = new Promise((resolve) => c.on('close', resolve));
  /** @type {Promise<unknown>} */
  let held = Promise.resolve();
  c.on('disconnect', () => {
    held = c.enqueue('q', 'x').catch((e) => e); // held in the outbox: the server is gone
  });
  await server.cleanup();
  const err = await within(closed, 5000, 'close event');
  assert.ok(err instanceof ConnectionLost);
  assert.ok((await within(held, 1000, 'held command')) instanceof ConnectionLost);
  assert.equal(c.isClosed, true);
});

// The three clients agree (Swift's reconnectTimeout is nil, Python's max_reconnect_attempts
// None): by default a client outlasts a docketd restart or upgrade however long it takes.
test('by default reconnects for as long as it takes', { timeout: 15_000 }, async () => {
  const server = await startServer();
  const c = await connect({ port: server.port });
  try {
    assert.equal(c.options.reconnect, true);
    assert.equal(c.options.maxReconnectAttempts, Infinity);
  } finally {
    await c.close();
    await server.stop();
  }
});
