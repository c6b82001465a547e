// Bounded buffers: output to a server that does not read (maxBufferedOutputBytes, then the
// outbox), unread messages of a subscription (maxPendingMsgs, maxPendingBytes: slow consumer),
// and PONGs owed to a server that floods PINGs without reading the answers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { BufferFull, Client, ConnectionLost, InvalidArgument, ProtocolError, SlowConsumer, TimeoutError, connect } from '../src/index.js';
import { startServer, within, waitFor, nextMsg, sleep } from '../testkit/helpers.js';
import { fakeServer } from '../testkit/fake-server.js';

/** @type {import('../testkit/helpers.js').Server} */
let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  server?.thaw();
  await server?.cleanup();
});

/**
 * Publishes to a server that does not read (SIGSTOPped) until the kernel's socket buffers are
 * full and publishes wait in the client's outbox; at most 64 MiB in all.
 * @param {import('../src/index.js').Client} c @param {Buffer} payload
 */
async function backUp(c, payload) {
  let published = 0;
  while (published < 4096) {
    for (let i = 0; c.outbox.length === 0 && i < 256; i++, published++) c.publish('limits.fill', payload);
    await sleep(20);
    if (c.outbox.length > 0) return; // the socket did not drain: nothing takes more
  }
  assert.fail(`after ${published} publishes of ${payload.length} bytes, nothing waits in the outbox`);
}

test('limits: defaults (64 MiB output, 65536 messages and 64 MiB per subscription) and checks', () => {
  const c = new Client();
  assert.equal(c.options.maxBufferedOutputBytes, 64 * 1024 * 1024);
  assert.equal(c.options.maxPendingMsgs, 65_536);
  assert.equal(c.options.maxPendingBytes, 64 * 1024 * 1024);
  assert.equal(new Client({ maxPendingMsgs: Infinity }).options.maxPendingMsgs, Infinity);
  for (const bad of [{ maxBufferedOutputBytes: 0 }, { maxPendingMsgs: -1 }, { maxPendingBytes: 1.5 }, { maxOutboxBytes: NaN }]) {
    assert.throws(() => new Client(/** @type {any} */ (bad)), InvalidArgument, JSON.stringify(bad));
  }
});

test('publish() to a server that stopped reading throws BufferFull once the output and the outbox are full; the connection stays', { timeout: 20_000 }, async () => {
  const limit = 256 * 1024;
  const c = await connect({ port: server.port, maxBufferedOutputBytes: limit, maxOutboxBytes: limit, commandTimeoutMs: 20_000 });
  try {
    server.freeze();
    const payload = Buffer.alloc(16 * 1024, 97);
    await backUp(c, payload);
    let published = 0;
    /** @type {unknown} */
    let thrown = null;
    try {
      for (; published < 1024; published++) c.publish('limits.load', payload);
    } catch (err) {
      thrown = err;
    }
    assert.ok(thrown instanceof BufferFull, `threw ${String(thrown)} after ${published} more publishes of 16 KiB`);
    assert.equal(/** @type {BufferFull} */ (thrown).code, 'BUFFER_FULL');
    assert.ok(/** @type {any} */ (c.socket).writableLength <= limit + payload.length + 64, `socket holds ${/** @type {any} */ (c.socket).writableLength} bytes`);
    assert.ok(c.outboxBytes <= limit, `outbox holds ${c.outboxBytes} bytes`);
    // A command that does not fit in the outbox is refused the same way, at once: nothing sent.
    await assert.rejects(c.enqueue('limits-q', Buffer.alloc(limit)), BufferFull);
    assert.equal(c.isConnected, true);

    server.thaw();
    // What waited in the outbox goes out as the server reads again; the PING comes after it.
    await within(c.flush({ timeout: 15_000 }), 15_000, 'flush after the thaw');
    assert.equal(c.outbox.length, 0);
    c.publish('limits.load', payload);
    await within(c.flush(), 5000, 'flush');
  } finally {
    server.thaw();
    await c.close();
  }
});

test('a command held while the output is backed up times out unsent (sent: false) and is never sent', { timeout: 20_000 }, async () => {
  const c = await connect({ port: server.port, maxBufferedOutputBytes: 128 * 1024, commandTimeoutMs: 300 });
  try {
    server.freeze();
    await backUp(c, Buffer.alloc(16 * 1024, 98));
    const err = await within(c.enqueue('limits-held', 'x', { key: 'held-1' }).then(() => null, (e) => e), 3000, 'enqueue');
    assert.ok(err instanceof TimeoutError, String(err));
    assert.equal(err.sent, false);
    assert.match(err.message, /it was not sent \(the output stayed backed up\).*the job was not created/);
    server.thaw();
    await within(c.flush({ timeout: 15_000 }), 15_000, 'flush after the thaw');
    assert.equal(await c.reserve('limits-held', { timeout: 0 }), null, 'the timed-out ENQ was dropped, not sent late');
  } finally {
    server.thaw();
    await c.close();
  }
});

test('a subscription nobody reads keeps maxPendingMsgs / maxPendingBytes; the rest is dropped and reported as SlowConsumer', { timeout: 15_000 }, async () => {
  const c = await connect({ port: server.port, maxPendingMsgs: 4 });
  const pub = await connect({ port: server.port });
  /** @type {unknown[]} */
  const errors = [];
  c.on('error', (e) => errors.push(e));
  try {
    const byCount = c.subscribe('limits.count', { maxPendingMsgs: 10 });
    const byBytes = c.subscribe('limits.bytes', { maxPendingBytes: 1000 });
    const byDefault = c.subscribe('limits.default');
    const capped = c.subscribe('limits.max', { max: 8, maxPendingMsgs: 3 });
    await c.flush();
    for (let i = 0; i < 30; i++) pub.publish('limits.count', String(i));
    for (let i = 0; i < 10; i++) pub.publish('limits.bytes', Buffer.alloc(300, 65 + i));
    for (let i = 0; i < 10; i++) pub.publish('limits.default', String(i));
    for (let i = 0; i < 10; i++) pub.publish('limits.max', String(i));
    await pub.flush();
    await waitFor(() => byCount.received === 30 && byBytes.received === 10 && byDefault.received === 10 && capped.isClosed, 3000, 'all delivered');

    assert.deepEqual([byCount.pending, byCount.dropped], [10, 20]);
    assert.deepEqual([byBytes.pending, byBytes.pendingBytes, byBytes.dropped], [3, 900, 7]);
    assert.deepEqual([byDefault.pending, byDefault.dropped], [4, 6], 'the client default maxPendingMsgs');
    // Dropped messages count towards max, as on the server: the subscription ends after 8.
    assert.deepEqual([capped.received, capped.pending, capped.dropped], [8, 3, 5]);

    const slow = errors.filter((e) => e instanceof SlowConsumer);
    assert.equal(slow.length, errors.length);
    assert.deepEqual(slow.map((e) => /** @type {SlowConsumer} */ (e).subject).sort(), ['limits.bytes', 'limits.count', 'limits.default', 'limits.max'], 'one report per subscription');

    // The kept messages are the first ones, in order; reading makes room again.
    for (let i = 0; i < 10; i++) assert.equal((await nextMsg(byCount)).string(), String(i));
    assert.equal(byCount.pending, 0);
    for (let i = 30; i < 35; i++) pub.publish('limits.count', String(i));
    await pub.flush();
    await waitFor(() => byCount.received === 35, 3000, 'five more');
    assert.deepEqual([byCount.pending, byCount.dropped], [5, 20]);
    assert.equal(errors.length, 4, 'no new report while nothing is dropped');
  } finally {
    await c.close();
    await pub.close();
  }
});

test('a server that floods PINGs and does not read the PONGs is dropped (ProtocolError) instead of growing memory', { timeout: 20_000 }, async () => {
  const fake = await fakeServer((line, socket, index) => {
    if (line !== 'PING') return;
    if (index > 0) {
      socket.write('PONG\r\n');
      return;
    }
    socket.pause(); // never reads again
    socket.write(Buffer.alloc(6 * 2_000_000, 'PING\r\n')); // 12 MB of PONGs owed, more than the kernel buffers take
  });
  const c = await connect({ port: fake.port, reconnectDelayMs: 10 });
  /** @type {unknown[]} */
  const errors = [];
  c.on('error', (e) => errors.push(e));
  try {
    const first = c.flush().then(() => null, (e) => e);
    await waitFor(() => errors.length > 0, 10_000, 'the flood noticed');
    assert.ok(errors[0] instanceof ProtocolError, String(errors[0]));
    assert.match(/** @type {Error} */ (errors[0]).message, /sends PINGs and does not read the PONGs/);
    assert.ok((await within(first, 3000, 'flush on the flooded connection')) instanceof ConnectionLost);
    await waitFor(() => c.reconnects === 1 && c.isConnected, 5000, 'reconnect');
    await within(c.flush(), 2000, 'flush on the new connection');
  } finally {
    await c.close();
    await fake.close();
  }
});
