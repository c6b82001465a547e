// Event listeners and callbacks run while the client reads the socket: what they throw, or do
// (close()), must never pass for the server's doing. Against a scripted fake server.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { connect, ConnectionClosed, ProtocolError } from '../src/index.js';
import { within, waitFor, sleep } from '../testkit/helpers.js';
import { fakeServer } from '../testkit/fake-server.js';

/** A fake server that answers every client PING. */
function pongingServer() {
  return fakeServer((line, socket) => {
    if (line === 'PING') socket.write('PONG\r\n');
  });
}

test('a throwing reconnect / disconnect listener is reported as error, not as a protocol error: one reconnect, no storm', { timeout: 10_000 }, async () => {
  const fake = await pongingServer();
  const c = await connect({ port: fake.port, reconnectDelayMs: 10, maxReconnectDelayMs: 20 });
  /** @type {unknown[]} */
  const errors = [];
  c.on('error', (e) => errors.push(e));
  let reconnectEvents = 0;
  c.on('reconnect', () => {
    reconnectEvents++;
    throw new Error('bug in a reconnect listener');
  });
  c.on('disconnect', () => {
    throw new Error('bug in a disconnect listener');
  });
  try {
    fake.dropAll();
    await waitFor(() => c.reconnects >= 1 && c.isConnected, 3000, 'reconnect');
    await sleep(300); // a storm would have reconnected many times by now
    assert.equal(reconnectEvents, 1);
    assert.equal(c.reconnects, 1);
    assert.equal(fake.sockets.length, 2, 'one new connection');
    assert.deepEqual(errors.map((e) => /** @type {Error} */ (e).message), ['bug in a disconnect listener', 'bug in a reconnect listener']);
    assert.ok(!errors.some((e) => e instanceof ProtocolError));
    await within(c.flush(), 2000, 'flush');
  } finally {
    await c.close();
    await fake.close();
  }
});

test('a throwing error listener becomes a process warning; the connection stays', { timeout: 10_000 }, async () => {
  const fake = await fakeServer((line, socket) => {
    if (line === 'PING') socket.write("-ERR 'Invalid Subject'\r\nPONG\r\n");
  });
  const c = await connect({ port: fake.port, reconnectDelayMs: 10 });
  /** @type {string[]} */
  const warnings = [];
  const onWarning = (/** @type {Error} */ w) => {
    if (w.name === 'DocketClientWarning') warnings.push(w.message);
  };
  process.on('warning', onWarning);
  c.on('error', () => {
    throw new Error('bug in an error listener');
  });
  try {
    await within(c.flush(), 2000, 'flush'); // the PONG after the -ERR is still read
    await waitFor(() => warnings.length > 0, 2000, 'warning');
    assert.match(warnings[0], /'error' listener .*threw: Error: bug in an error listener/);
    assert.equal(c.reconnects, 0);
    assert.equal(fake.sockets.length, 1);
    assert.equal(c.isConnected, true);
  } finally {
    process.off('warning', onWarning);
    await c.close();
    await fake.close();
  }
});

test('a throwing subscription callback is reported (error event, else a process warning); the connection stays', { timeout: 10_000 }, async () => {
  const fake = await fakeServer((line, socket) => {
    if (line === 'SUB cb 1') socket.write('MSG cb 1 1\r\nx\r\nMSG cb 1 1\r\ny\r\n');
    if (line === 'PING') socket.write('PONG\r\n');
  });
  const c = await connect({ port: fake.port });
  /** @type {string[]} */
  const warnings = [];
  const onWarning = (/** @type {Error} */ w) => {
    if (w.name === 'DocketClientWarning') warnings.push(w.message);
  };
  process.on('warning', onWarning);
  /** @type {string[]} */
  const seen = [];
  try {
    c.subscribe('cb', {
      callback: (_err, msg) => {
        seen.push(msg?.string() ?? '');
        throw new Error(`callback bug ${msg?.string()}`);
      },
    });
    await within(c.flush(), 2000, 'flush');
    await waitFor(() => warnings.length === 2, 2000, 'two warnings');
    assert.deepEqual(seen, ['x', 'y'], 'the second message is still delivered');
    assert.match(warnings[0], /the callback of subscription 1 to cb of a docket client threw: Error: callback bug x/);
    assert.equal(c.reconnects, 0);
    assert.equal(fake.sockets.length, 1);
  } finally {
    process.off('warning', onWarning);
    await c.close();
    await fake.close();
  }
});

test('close() from a subscription callback stops dispatching the rest of what was read: no stray errors', { timeout: 10_000 }, async () => {
  // One write: two messages, the reply to the ENQ, a third message.
  const fake = await fakeServer((line, socket) => {
    if (line.startsWith('ENQ q ')) socket.write('MSG cb 1 1\r\na\r\nMSG cb 1 1\r\nb\r\n+OK 7\r\nMSG cb 1 1\r\nc\r\n');
  });
  const c = await connect({ port: fake.port });
  /** @type {unknown[]} */
  const errors = [];
  c.on('error', (e) => errors.push(e));
  /** @type {string[]} */
  const seen = [];
  c.subscribe('cb', {
    callback: (_err, msg) => {
      if (!msg) return;
      seen.push(msg.string());
      c.close();
    },
  });
  const enq = c.enqueue('q', 'x').then(() => 'resolved', (e) => e);
  const outcome = await within(enq, 2000, 'enqueue');
  await sleep(50);
  assert.deepEqual(seen, ['a']);
  assert.ok(outcome instanceof ConnectionClosed, String(outcome));
  assert.deepEqual(errors, [], 'no "OK arrived with no command waiting"');
  await fake.close();
});
