// A dead connection (a network partition: no FIN, no RST, nothing at all) is found by the
// client's own PINGs (pingIntervalMs, maxPingsOut), closed and replaced; a quiet but healthy one
// is not. Through a small TCP proxy that can black-hole a connection both ways.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';

import { Client, connect, ConnectionLost, InvalidArgument } from '../src/index.js';
import { startServer, within, waitFor, nextMsg, sleep } from '../testkit/helpers.js';
import { fakeServer } from '../testkit/fake-server.js';

/**
 * A proxy 127.0.0.1:<port> → 127.0.0.1:<target>. `partition()` makes every connection drop
 * whatever either side sends, and not pass on a close (a lost FIN); connections made during a
 * partition reach nothing. `heal()` ends the partition for connections made from then on.
 * @param {number} target
 */
async function blackholeProxy(target) {
  let partitioned = false;
  /** @type {net.Socket[]} */
  const sockets = [];
  const server = net.createServer((client) => {
    sockets.push(client);
    client.on('error', () => {});
    if (partitioned) return; // accepted by the kernel, then silence
    const upstream = net.createConnection({ host: '127.0.0.1', port: target });
    sockets.push(upstream);
    upstream.on('error', () => {});
    let cut = false; // once partitioned, this connection stays a black hole
    const forward = (/** @type {net.Socket} */ from, /** @type {net.Socket} */ to) => {
      from.on('data', (d) => {
        if (partitioned) cut = true;
        if (!cut) to.write(d);
      });
      from.on('end', () => {
        if (!partitioned && !cut) to.end();
      });
    };
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', () => r(undefined)));
  return {
    port: /** @type {net.AddressInfo} */ (server.address()).port,
    partition: () => (partitioned = true),
    heal: () => (partitioned = false),
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r(undefined));
      }),
  };
}

/** @type {import('../testkit/helpers.js').Server} */
let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.cleanup();
});

test('pingIntervalMs and maxPingsOut: defaults 2 min and 2, checked', () => {
  const c = new Client();
  assert.equal(c.options.pingIntervalMs, 120_000);
  assert.equal(c.options.maxPingsOut, 2);
  assert.equal(new Client({ pingIntervalMs: null }).options.pingIntervalMs, null);
  for (const bad of [{ pingIntervalMs: -1 }, { pingIntervalMs: NaN }, { pingIntervalMs: '5s' }, { maxPingsOut: 0 }, { maxPingsOut: 1.5 }]) {
    assert.throws(() => new Client(/** @type {any} */ (bad)), InvalidArgument, JSON.stringify(bad));
  }
});

test('a subscriber cut off by a partition finds the connection stale, reconnects once it heals, and receives again', { timeout: 15_000 }, async () => {
  const proxy = await blackholeProxy(server.port);
  const c = await connect({ port: proxy.port, pingIntervalMs: 100, maxPingsOut: 2, reconnectDelayMs: 20, maxReconnectDelayMs: 100, connectTimeoutMs: 400 });
  const pub = await connect({ port: server.port });
  /** @type {unknown[]} */
  const disconnects = [];
  c.on('disconnect', (err) => disconnects.push(err));
  try {
    const sub = c.subscribe('ticks');
    await c.flush();
    pub.publish('ticks', 'before');
    assert.equal((await nextMsg(sub)).string(), 'before');

    proxy.partition();
    const t0 = Date.now();
    await waitFor(() => disconnects.length > 0, 2000, 'the stale connection found');
    const took = Date.now() - t0;
    assert.ok(disconnects[0] instanceof ConnectionLost, String(disconnects[0]));
    assert.match(/** @type {Error} */ (disconnects[0]).message, /stale connection/);
    assert.ok(took >= 150 && took < 1500, `found after ${took} ms (2 to 3 intervals of 100 ms)`);

    proxy.heal();
    await waitFor(() => c.isConnected, 3000, 'reconnect after the partition');
    pub.publish('ticks', 'after');
    await pub.flush();
    assert.equal((await nextMsg(sub, 3000)).string(), 'after');
  } finally {
    await c.close();
    await pub.close();
    await proxy.close();
  }
});

test('a healthy quiet connection is not stale, nor one held by a RESERVE or WAIT that waits (the server is silent then)', { timeout: 15_000 }, async () => {
  const c = await connect({ port: server.port, pingIntervalMs: 60, maxPingsOut: 2 });
  const other = await connect({ port: server.port });
  let disconnects = 0;
  c.on('disconnect', () => disconnects++);
  try {
    await sleep(500); // idle: our PINGs are answered
    assert.equal(disconnects, 0);
    // RESERVE without a timeout: the server reads nothing more of this connection until a job
    // comes, and sends nothing (not even its own PINGs): that silence is not staleness.
    const job = c.reserve('liveness-empty');
    await sleep(600);
    assert.equal(disconnects, 0);
    assert.equal(c.isConnected, true);
    await other.enqueue('liveness-empty', 'late');
    assert.equal((await within(job, 3000, 'reserve'))?.payload.toString(), 'late');
    // The same for a WAIT with a timeout longer than the stale window.
    const { id } = await other.enqueue('liveness-wait', 'w');
    await other.reserve('liveness-wait', { timeout: 0 });
    const outcome = c.wait(id, { timeout: 5000 });
    await sleep(600);
    assert.equal(disconnects, 0);
    await other.ack(id, 'done');
    assert.equal((await within(outcome, 3000, 'wait'))?.state, 'completed');
    await within(c.flush(), 2000, 'flush: the PINGs held back were answered in order');
    assert.equal(disconnects, 0);
  } finally {
    await c.close();
    await other.close();
  }
});

test('sockets are made with TCP keep-alive', { timeout: 10_000 }, async () => {
  /** @type {unknown[][]} */
  const calls = [];
  const original = net.Socket.prototype.setKeepAlive;
  net.Socket.prototype.setKeepAlive = function (...args) {
    calls.push(args);
    return original.apply(this, args);
  };
  let c;
  try {
    c = await connect({ port: server.port });
  } finally {
    net.Socket.prototype.setKeepAlive = original;
  }
  try {
    assert.ok(calls.some((args) => args[0] === true), JSON.stringify(calls));
  } finally {
    await c.close();
  }
});

test('messages and server PINGs do not keep alive a connection that answers none of our PINGs', { timeout: 15_000 }, async () => {
  // A server whose handling of this connection is stuck, while its messages still flow: it
  // answers the handshake, then never a PING of ours, and streams MSGs and PINGs of its own.
  /** @type {NodeJS.Timeout[]} */
  const streams = [];
  const fake = await fakeServer((line, socket, index) => {
    if (index === 0 && line.startsWith('SUB ')) {
      const sid = line.split(' ').at(-1);
      streams.push(setInterval(() => socket.write(`MSG feed ${sid} 1\r\nx\r\nPING\r\n`), 20));
    }
    if (index > 0 && line === 'PING') socket.write('PONG\r\n');
  });
  const c = await connect({ port: fake.port, pingIntervalMs: 100, maxPingsOut: 2, reconnectDelayMs: 10 });
  /** @type {unknown[]} */
  const disconnects = [];
  c.on('disconnect', (e) => disconnects.push(e));
  try {
    const sub = c.subscribe('feed');
    await nextMsg(sub, 3000);
    await waitFor(() => disconnects.length > 0, 5000, 'the connection found stale');
    assert.ok(disconnects[0] instanceof ConnectionLost);
    assert.match(/** @type {Error} */ (disconnects[0]).message, /^stale connection/);
    await waitFor(() => fake.sockets.length >= 2, 5000, 'a reconnect');
  } finally {
    for (const s of streams) clearInterval(s);
    await c.close();
    await fake.close();
  }
});
