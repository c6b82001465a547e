// connect() fails with the client's own error classes, never with a bare Node error: a refused
// port or an unknown host is a ConnectError (Node's error its cause, its system code kept), a
// port out of range an InvalidArgument, and the rest what the README's errors table says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';

import { connect, ConnectError, ConnectionLost, DocketClientError, InvalidArgument, TimeoutError, Worker } from '../src/index.js';
import { freePort, quietLogger, waitFor, within } from '../testkit/helpers.js';

test('a refused port rejects connect() with ConnectError (code ECONNREFUSED, cause Node\'s error)', { timeout: 10_000 }, async () => {
  const port = await freePort();
  const err = await within(connect({ port, reconnect: false }).then(() => null, (e) => e), 5000, 'connect');
  assert.ok(err instanceof ConnectError, String(err));
  assert.ok(err instanceof DocketClientError);
  assert.equal(err.name, 'ConnectError');
  assert.equal(err.code, 'ECONNREFUSED');
  assert.match(err.message, new RegExp(`^cannot connect to 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
  assert.ok(err.cause instanceof Error);
  assert.equal(/** @type {any} */ (err.cause).code, 'ECONNREFUSED');
  assert.equal(/** @type {any} */ (err.cause).syscall, 'connect');
});

test('an unknown host rejects connect() with ConnectError (code ENOTFOUND or EAI_AGAIN)', { timeout: 15_000 }, async () => {
  const err = await within(connect({ host: 'no-such-host.invalid', port: 4222, connectTimeoutMs: 8000 }).then(() => null, (e) => e), 10_000, 'connect');
  assert.ok(err instanceof ConnectError, String(err));
  assert.ok(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL'].includes(err.code), err.code);
  assert.equal(/** @type {any} */ (err.cause).code, err.code);
  assert.match(err.message, /^cannot connect to no-such-host\.invalid:4222: /);
});

test('a port out of range rejects connect() with InvalidArgument, and a Worker does not retry it', { timeout: 10_000 }, async () => {
  for (const port of [70_000, -1]) {
    const err = await within(connect({ port }).then(() => null, (e) => e), 5000, 'connect');
    assert.ok(err instanceof InvalidArgument, `port ${port}: ${String(err)}`);
  }
  const worker = new Worker({ port: 70_000, queues: 'q', handler: () => {}, handleSignals: false, logger: quietLogger() });
  await assert.rejects(within(worker.start(), 5000, 'worker.start'), InvalidArgument);
});

test('a server that closes during the handshake, or never answers it, rejects connect() with ConnectionLost or TimeoutError', { timeout: 10_000 }, async () => {
  /** @type {net.Socket[]} */
  const sockets = [];
  const closing = net.createServer((s) => s.destroy());
  const silent = net.createServer((s) => sockets.push(s.on('error', () => {})));
  await Promise.all([closing, silent].map((srv) => new Promise((r) => srv.listen(0, '127.0.0.1', () => r(undefined)))));
  try {
    const port = (/** @type {net.Server} */ srv) => /** @type {net.AddressInfo} */ (srv.address()).port;
    const lost = await within(connect({ port: port(closing) }).then(() => null, (e) => e), 5000, 'connect');
    // Closed at once: a clean close (ConnectionLost) or a reset (ConnectError ECONNRESET).
    assert.ok(lost instanceof ConnectionLost || (lost instanceof ConnectError && lost.code === 'ECONNRESET'), String(lost));
    const slow = await within(connect({ port: port(silent), connectTimeoutMs: 200 }).then(() => null, (e) => e), 5000, 'connect');
    assert.ok(slow instanceof TimeoutError, String(slow));
    assert.match(slow.message, /connecting to 127\.0\.0\.1:\d+ timed out/);
  } finally {
    for (const s of sockets) s.destroy();
    await Promise.all([closing, silent].map((srv) => new Promise((r) => srv.close(() => r(undefined)))));
  }
});

test('a failed reconnect attempt leaves a ConnectError as lastError while the client keeps trying', { timeout: 10_000 }, async () => {
  const srv = net.createServer((s) => {
    s.on('error', () => {});
    s.write('INFO {"server_id":"X","proto":1,"headers":true,"max_payload":1048576}\r\n');
    s.on('data', (d) => {
      if (d.toString().includes('PING')) s.write('PONG\r\n');
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', () => r(undefined)));
  const { port } = /** @type {net.AddressInfo} */ (srv.address());
  const c = await connect({ port, reconnectDelayMs: 20, maxReconnectDelayMs: 50 });
  try {
    // The server goes away: nothing listens on its port any more.
    const closed = new Promise((r) => srv.close(() => r(undefined)));
    c.socket?.destroy();
    await closed;
    await waitFor(() => c.lastError instanceof ConnectError, 3000, 'a ConnectError from a reconnect attempt');
    assert.equal(/** @type {ConnectError} */ (c.lastError).code, 'ECONNREFUSED');
    assert.equal(c.isClosed, false, 'still reconnecting');
  } finally {
    await c.close();
  }
});
