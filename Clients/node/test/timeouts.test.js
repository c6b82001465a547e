// Every command has a deadline (commandTimeoutMs): a server that is down or frozen (SIGSTOP)
// cannot keep a caller waiting forever.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';

import { Client, connect, TimeoutError } from '../src/index.js';
import { startServer, within, waitFor } from '../testkit/helpers.js';

const FAST = { reconnectDelayMs: 20, maxReconnectDelayMs: 100 };

test('commands time out after 10 s by default; commandTimeoutMs changes it, null removes it', () => {
  assert.equal(new Client().options.commandTimeoutMs, 10_000);
  assert.equal(new Client({ commandTimeoutMs: 250 }).options.commandTimeoutMs, 250);
  const c = new Client({ commandTimeoutMs: 250 });
  assert.equal(c._waitingTimeout(1000), 1250, 'a RESERVE or WAIT that waits gets its wait on top');
  assert.equal(c._waitingTimeout(undefined), null, 'a RESERVE without timeout waits as long as the server');
  assert.equal(new Client({ commandTimeoutMs: null })._waitingTimeout(1000), null);
});

test('an ENQ made while the server is down times out, is never sent late, and a retry with its key is safe', { timeout: 20_000 }, async () => {
  let server = await startServer();
  const { port, dataDir } = server;
  const c = await connect({ port, ...FAST, commandTimeoutMs: 500 });
  try {
    await server.kill();
    await waitFor(() => !c.isConnected, 2000, 'disconnect');
    const t0 = Date.now();
    const err = await within(c.enqueue('down', 'x', { key: 'order-1' }).then(() => null, (e) => e), 3000, 'enqueue');
    const took = Date.now() - t0;
    assert.ok(err instanceof TimeoutError, String(err));
    assert.equal(err.call, 'enqueue');
    // It never left the client: the message says so (not "may or may not have been created").
    assert.match(err.message, /no reply to enqueue within 500 ms: it was not sent \(the client was not connected\).*the job was not created/);
    assert.equal(err.sent, false);
    assert.ok(took >= 450 && took < 1500, `took ${took} ms`);
    await assert.rejects(c.inspect(1), TimeoutError);

    server = await startServer({ port, dataDir });
    await waitFor(() => c.isConnected, 5000, 'reconnect');
    // The timed-out ENQ was still in the outbox: it was dropped, not sent after the reconnect.
    const again = await c.enqueue('down', 'x', { key: 'order-1' });
    assert.equal(again.duplicate, false);
    assert.equal((await c.reserve('down', { timeout: 0 }))?.id, again.id);
    assert.equal(await c.reserve('down', { timeout: 0 }), null);
  } finally {
    await c.close();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('commands to a frozen server (SIGSTOP) time out; later replies still line up', { timeout: 20_000 }, async () => {
  const server = await startServer();
  const c = await connect({ port: server.port, commandTimeoutMs: 500 });
  try {
    const { id } = await c.enqueue('frozen', 'first');
    await c.reserve('frozen', { timeout: 0 });
    server.freeze();
    const t0 = Date.now();
    const results = await within(
      Promise.allSettled([
        c.enqueue('frozen', 'x', { key: 'k-frozen' }),
        c.ack(id),
        c.reserve('frozen', { timeout: 200 }),
        c.inspect(id),
        c.flush(),
      ]),
      3000,
      'commands',
    );
    const took = Date.now() - t0;
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.ok(r.reason instanceof TimeoutError, String(r.reason));
      assert.equal(r.reason.sent, true, 'written to the frozen server: it may still happen');
    }
    assert.match(results[0].status === 'rejected' ? results[0].reason.message : '', /may or may not have been created: enqueue again with the same key/);
    assert.deepEqual(results.map((r) => r.status === 'rejected' && r.reason.call), ['enqueue', 'ack', 'reserve', 'inspect', 'ping']);
    assert.ok(took < 1500, `took ${took} ms`);
    server.thaw();
    // The frozen commands were written: the server handles them once it runs again, and their
    // replies are read and dropped. The ENQ happened, so enqueueing again with its key finds it.
    const again = await within(c.enqueue('frozen', 'x', { key: 'k-frozen' }), 3000, 'enqueue after thaw');
    assert.equal(again.duplicate, true);
    assert.equal((await c.inspect(id)).state, 'completed');
    // The RESERVE that timed out took that job once the server ran again: the client gave it back.
    const doc = await c.inspect(again.id);
    assert.equal(doc.state, 'waiting');
    assert.equal(doc.attempts, 1);
    assert.equal(doc.last_error, 'reservation abandoned: the client had stopped waiting for it');
  } finally {
    server.thaw();
    await c.close();
    await server.cleanup();
  }
});

test('flush({timeout: 0}) and request({timeout: 0}) time out at once (as the Python client); null and Infinity mean no limit', { timeout: 10_000 }, async () => {
  const server = await startServer();
  const c = await connect({ port: server.port });
  const responder = await connect({ port: server.port });
  try {
    responder.subscribe('zero.svc', { callback: (_e, m) => m?.respond('pong') });
    await responder.flush();

    const err = await c.flush({ timeout: 0 }).then(() => null, (e) => e);
    assert.ok(err instanceof TimeoutError, String(err));
    assert.equal(err.call, 'ping');
    assert.equal(err.timeoutMs, 0);
    assert.equal(err.sent, true, 'the PING was written; its PONG is read and dropped');
    const reqErr = await c.request('zero.svc', 'x', { timeout: 0 }).then(() => null, (e) => e);
    assert.ok(reqErr instanceof TimeoutError, String(reqErr));
    assert.equal(c.requests.size, 0);

    // The late PONG and the late reply are dropped: what comes next gets its own.
    await within(c.flush(), 2000, 'flush');
    await within(c.flush({ timeout: null }), 2000, 'flush without a limit');
    await within(c.flush({ timeout: Infinity }), 2000, 'flush without a limit');
    assert.equal((await within(c.request('zero.svc', 'y', { timeout: Infinity }), 2000, 'request')).string(), 'pong');
    assert.equal((await within(c.enqueue('zero', 'x'), 2000, 'enqueue')).duplicate, false);
  } finally {
    await Promise.all([c.close(), responder.close()]);
    await server.cleanup();
  }
});
