// Arguments the client refuses: every option is checked before anything is sent or registered,
// so a refused call leaves no trace (no SUB on the wire, no subscription that later reconnects
// would send again). Against a scripted fake server, which records every line it reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { connect, InvalidArgument, ProtocolError, RetryAfterError, Throttle, Worker } from '../src/index.js';
import { within, waitFor } from '../testkit/helpers.js';
import { fakeServer } from '../testkit/fake-server.js';

/**
 * A fake server that answers every client PING and keeps each connection's lines.
 * @returns {Promise<Awaited<ReturnType<typeof fakeServer>> & {lines: string[][]}>}
 */
async function recordingServer() {
  /** @type {string[][]} */
  const lines = [];
  const fake = await fakeServer((line, socket, index) => {
    (lines[index] ??= []).push(line);
    if (line === 'PING') socket.write('PONG\r\n');
  });
  return Object.assign(fake, { lines });
}

test('subscribe() with a bad max (1.5, NaN, -1, "3") throws before SUB is sent or the subscription kept; reconnects stay healthy', { timeout: 10_000 }, async () => {
  const fake = await recordingServer();
  const c = await connect({ port: fake.port, reconnectDelayMs: 10 });
  /** @type {unknown[]} */
  const errors = [];
  c.on('error', (e) => errors.push(e));
  try {
    for (const max of [1.5, NaN, -1, '3', Infinity]) {
      assert.throws(() => c.subscribe('orders.new', { max: /** @type {any} */ (max) }), InvalidArgument, `max ${String(max)}`);
    }
    assert.throws(() => c.subscribe('orders.new', { callback: /** @type {any} */ ('not a function') }), InvalidArgument);
    assert.throws(() => c.subscribe('orders.new', { maxPendingMsgs: 0 }), InvalidArgument);
    assert.equal(c.subs.size, 0, 'no subscription was registered');
    await within(c.flush(), 2000, 'flush');
    assert.deepEqual(fake.lines[0], ['PING'], 'nothing but the flush was sent');

    // unsubscribe(max) with a bad max is refused too, and the subscription keeps its max.
    const sub = c.subscribe('orders.kept', { max: 5 });
    assert.throws(() => sub.unsubscribe(1.5), InvalidArgument);
    assert.throws(() => sub.unsubscribe(/** @type {any} */ ('3')), InvalidArgument);
    assert.equal(sub.max, 5);
    await within(c.flush(), 2000, 'flush');
    assert.deepEqual(fake.lines[0], ['PING', 'SUB orders.kept 1', 'UNSUB 1 5', 'PING']);

    // The next connection's handshake (SUB, UNSUB with what is left of max, PING) does not throw.
    fake.dropAll();
    await waitFor(() => c.reconnects === 1 && c.isConnected, 3000, 'reconnect');
    await within(c.flush(), 2000, 'flush after the reconnect');
    assert.deepEqual(fake.lines[1], ['PING']);
    assert.equal(fake.sockets.length, 2, 'one reconnect, no reconnect loop');
    assert.deepEqual(errors, []);
  } finally {
    await c.close();
    await fake.close();
  }
});

test('subscribe({max: 0}) has ended at once and sends nothing', { timeout: 10_000 }, async () => {
  const fake = await recordingServer();
  const c = await connect({ port: fake.port });
  try {
    const sub = c.subscribe('m0', { max: 0 });
    assert.equal(sub.isClosed, true);
    await within(sub.closed, 500, 'closed');
    const r = await within(sub[Symbol.asyncIterator]().next(), 500, 'next');
    assert.equal(r.done, true);
    assert.equal(c.subs.size, 0);
    await within(c.flush(), 2000, 'flush');
    assert.deepEqual(fake.lines[0], ['PING']);
  } finally {
    await c.close();
    await fake.close();
  }
});

test('request() with a bad subject or option sends nothing, not even its inbox subscription', { timeout: 10_000 }, async () => {
  const fake = await recordingServer();
  const c = await connect({ port: fake.port });
  try {
    await assert.rejects(c.request('bad subject', 'x'), InvalidArgument);
    await assert.rejects(c.request('svc', 'x', /** @type {any} */ ({ timeot: 5 })), InvalidArgument);
    await assert.rejects(c.request('svc', 'x', { headers: { X: 'a\r\nb' } }), InvalidArgument);
    assert.equal(c.subs.size, 0);
    assert.equal(c.requests.size, 0);
    await within(c.flush(), 2000, 'flush');
    assert.deepEqual(fake.lines[0], ['PING']);
  } finally {
    await c.close();
    await fake.close();
  }
});

test('a timeout that is no number of milliseconds (NaN, negative, a string) is refused by flush(), request() and command(): nothing sent', { timeout: 10_000 }, async () => {
  const fake = await recordingServer();
  const c = await connect({ port: fake.port });
  try {
    for (const timeout of [NaN, -1, -Infinity, '1s', {}]) {
      const t = /** @type {any} */ (timeout);
      await assert.rejects(c.flush({ timeout: t }), InvalidArgument, `flush ${String(timeout)}`);
      await assert.rejects(c.request('svc', 'x', { timeout: t }), InvalidArgument, `request ${String(timeout)}`);
      await assert.rejects(c.publishRouted('svc', 'x', { timeout: t }), InvalidArgument, `publishRouted ${String(timeout)}`);
      await assert.rejects(c.command(Buffer.from('PING\r\n'), 'ping', { timeout: t }), InvalidArgument, `command ${String(timeout)}`);
    }
    assert.equal(c.subs.size, 0, 'no inbox subscription');
    assert.equal(c.requests.size, 0);
    assert.equal(c.inflight.length, 0);
    await within(c.flush(), 2000, 'flush');
    assert.deepEqual(fake.lines[0], ['PING'], 'nothing but the last flush was sent');
  } finally {
    await c.close();
    await fake.close();
  }
});

test('connect(url, options) uses the options (they were ignored); unknown connect and Worker option names are refused', { timeout: 10_000 }, async () => {
  const fake = await recordingServer();
  const url = `nats://127.0.0.1:${fake.port}`;
  const c = await connect(url, { name: 'second-argument', commandTimeoutMs: 1234 });
  try {
    assert.equal(c.options.commandTimeoutMs, 1234);
    assert.equal(fake.connectJson(0).name, 'second-argument');
  } finally {
    await c.close();
  }
  for (const [args, pattern] of /** @type {[any[], RegExp][]} */ ([
    [[{ port: fake.port, comandTimeoutMs: 5 }], /unknown connect option "comandTimeoutMs"/],
    [[url, { conectTimeoutMs: 5 }], /unknown connect option "conectTimeoutMs"/],
    [[url, { url }], /url is given twice/],
    [[{ port: fake.port }, { name: 'x' }], /connect\(options\) or connect\(url, options\)/],
  ])) {
    const err = await connect(...args).then(() => null, (e) => e);
    assert.ok(err instanceof InvalidArgument, String(err));
    assert.match(err.message, pattern);
  }
  assert.equal(fake.sockets.length, 1, 'a refused call does not connect');
  await fake.close();
  assert.throws(() => new Worker(/** @type {any} */ ({ url, queues: ['q'], handler() {}, concurency: 4 })), /unknown Worker option "concurency"/);
});

test('connect options of the wrong type or range are refused before connecting: maxReconnectAttempts, maxControlLine, echo, reconnect, name', { timeout: 10_000 }, async () => {
  // They were taken as given: reconnect: "false" (truthy) reconnected, echo: "no" echoed,
  // maxControlLine: 0 or "4096" and maxReconnectAttempts: -2 or "3" were compared as they came.
  const fake = await recordingServer();
  try {
    for (const [option, pattern] of /** @type {[Record<string, unknown>, RegExp][]} */ ([
      [{ maxReconnectAttempts: '3' }, /maxReconnectAttempts must be an integer, 0 or more, or Infinity \(got "3"\)/],
      [{ maxReconnectAttempts: -2 }, /maxReconnectAttempts must be/],
      [{ maxReconnectAttempts: 1.5 }, /maxReconnectAttempts must be/],
      [{ maxControlLine: 0 }, /maxControlLine must be a positive integer \(got 0\)/],
      [{ maxControlLine: '4096' }, /maxControlLine must be a positive integer \(got "4096"\)/],
      [{ echo: 'no' }, /echo must be true or false/],
      [{ reconnect: 'false' }, /reconnect must be true or false \(got "false"\)/],
      [{ name: 5 }, /name must be a string/],
    ])) {
      const err = await connect({ port: fake.port, ...option }).then((c) => (c.close(), null), (e) => e);
      assert.ok(err instanceof InvalidArgument, `${JSON.stringify(option)}: ${err}`);
      assert.match(err.message, pattern);
    }
    assert.equal(fake.sockets.length, 0, 'a refused option does not connect');
    const c = await connect({ port: fake.port, maxReconnectAttempts: 0, echo: false, reconnect: false, name: null });
    await c.close();
  } finally {
    await fake.close();
  }
});

test('unknown option names are refused with InvalidArgument, naming them (enqueue, batch, route, schedule, fail, …)', { timeout: 10_000 }, async () => {
  const fake = await recordingServer();
  const c = await connect({ port: fake.port });
  try {
    const err = await c.enqueue('q', 'x', /** @type {any} */ ({ atempts: 3 })).then(() => null, (e) => e);
    assert.ok(err instanceof InvalidArgument, String(err));
    assert.match(err.message, /unknown enqueue option "atempts"/);
    /** @type {[string, () => unknown][]} */
    const calls = [
      ['batch', () => c.batch([{ queue: 'q', payload: 'x', /** @type {any} */ prority: 1 }])],
      ['route', () => c.route('orders.*', 'q', /** @type {any} */ ({ atempts: 2 }))],
      ['schedule', () => c.schedule('s', 'q', 'x', /** @type {any} */ ({ every: '1m', timezone: 'UTC' }))],
      ['fail', () => c.fail(1, /** @type {any} */ ({ retyr: false }))],
      ['ack', () => c.ack(1, null, /** @type {any} */ ({ atempt: 1 }))],
      ['progress', () => c.progress(1, 5, null, /** @type {any} */ ({ atempt: 1 }))],
      ['touch', () => c.touch(1, /** @type {any} */ ({ atempt: 1 }))],
      ['reserve', () => c.reserve('q', /** @type {any} */ ({ timout: 0 }))],
      ['wait', () => c.wait(1, /** @type {any} */ ({ timout: 0 }))],
      ['dead', () => c.dead('q', /** @type {any} */ ({ limt: 1 }))],
      ['list', () => c.list('q', /** @type {any} */ ({ sate: 'dead' }))],
      ['listAll', () => c.listAll('q', /** @type {any} */ ({ page: 5 }))],
      ['purge', () => c.purge('q', /** @type {any} */ ({ state: 'dead', olderThan: 5 }))],
      ['flush', () => c.flush(/** @type {any} */ ({ timout: 5 }))],
      ['publish', () => c.publish('a', 'x', /** @type {any} */ ({ replyTo: 'b' }))],
      ['subscribe', () => c.subscribe('a', /** @type {any} */ ({ maxMsgs: 1 }))],
      ['events', () => c.events('q', /** @type {any} */ ({ event: 'completed' }))],
    ];
    for (const [name, call] of calls) {
      let thrown;
      try {
        await call();
      } catch (e) {
        thrown = e;
      }
      assert.ok(thrown instanceof InvalidArgument, `${name}: ${String(thrown)}`);
      assert.match(thrown.message, /unknown .*option/, name);
    }
    await within(c.flush(), 2000, 'flush');
    assert.deepEqual(fake.lines[0], ['PING'], 'nothing was sent');
  } finally {
    await c.close();
    await fake.close();
  }
});

test('a lone UTF-16 surrogate in a key, group, subject or header is refused (not sent as U+FFFD)', { timeout: 10_000 }, async () => {
  const fake = await recordingServer();
  const c = await connect({ port: fake.port });
  try {
    await assert.rejects(c.enqueue('q', 'x', { key: 'order-\ud800' }), InvalidArgument);
    await assert.rejects(c.enqueue('q', 'x', { key: '\udc00order' }), InvalidArgument);
    await assert.rejects(c.enqueue('q', 'x', { group: 'g\ud83d' }), InvalidArgument);
    await assert.rejects(c.batch([{ queue: 'q', payload: 'x', key: 'k\ud800' }]), InvalidArgument);
    assert.throws(() => c.publish('a.\ud800', 'x'), InvalidArgument);
    assert.throws(() => c.publish('a', 'x', { headers: { X: 'v\udfff' } }), InvalidArgument);
    assert.throws(() => c.subscribe('a.\ud800'), InvalidArgument);
    assert.throws(() => c.subscribe('a', { queue: 'w\ud800' }), InvalidArgument);
    await within(c.flush(), 2000, 'flush');
    assert.deepEqual(fake.lines[0], ['PING'], 'nothing was sent');
    // A character outside the BMP (a surrogate pair) is fine.
    const pending = c.enqueue('q', 'x', { key: 'k\ud83d\ude00' }).catch(() => {});
    await waitFor(() => (fake.lines[0] ?? []).some((l) => l.startsWith('ENQ')), 2000, 'ENQ sent');
    assert.equal(Buffer.from(fake.lines[0].find((l) => l.startsWith('ENQ')) ?? '', 'latin1').toString('utf8'), 'ENQ q key=k\u{1F600} 1');
    void pending;
  } finally {
    await c.close();
    await fake.close();
  }
});

test('a MSG over the server\'s max_payload (plus a margin) is a protocol error on its control line: dropped and reconnected', { timeout: 10_000 }, async () => {
  const fake = await fakeServer(
    (line, socket, index) => {
      if (index !== 0) {
        if (line === 'PING') socket.write('PONG\r\n');
        return;
      }
      if (line === 'SUB small 1') socket.write(`MSG small 1 2048\r\n${'a'.repeat(2048)}\r\n`);
      if (line === 'SUB big 2') socket.write('MSG big 2 10000000\r\n'); // 10 MB announced: never sent
    },
    { info: { max_payload: 2048 } },
  );
  const c = await connect({ port: fake.port, reconnectDelayMs: 10 });
  /** @type {unknown[]} */
  const errors = [];
  c.on('error', (e) => errors.push(e));
  try {
    const small = c.subscribe('small');
    const m = await within(small[Symbol.asyncIterator]().next(), 2000, 'the message at max_payload');
    assert.equal(m.value?.data.length, 2048);
    c.subscribe('big');
    await waitFor(() => errors.length > 0, 2000, 'the protocol error');
    assert.ok(errors[0] instanceof ProtocolError, String(errors[0]));
    assert.match(/** @type {Error} */ (errors[0]).message, /MSG payload of 10000000 bytes is over the limit of \d+/);
    await waitFor(() => c.reconnects === 1 && c.isConnected, 3000, 'reconnect');
    await within(c.flush(), 2000, 'flush on the new connection');
  } finally {
    await c.close();
    await fake.close();
  }
});

test("a handler's RetryAfterError and Throttle are checked where they are made", () => {
  // Before, each was taken as given and refused only when the worker sent FAIL, far from the mistake.
  for (const bad of [-1, NaN, Infinity, 'soon', true, null, 400 * 86_400_000]) {
    assert.throws(() => new RetryAfterError(/** @type {any} */ (bad)), InvalidArgument, `RetryAfterError(${String(bad)})`);
  }
  for (const bad of [0, -1, NaN, 'x', '0s', true, null, undefined, 400 * 86_400]) {
    assert.throws(() => new Throttle(/** @type {any} */ (bad)), InvalidArgument, `Throttle(${String(bad)})`);
  }
  assert.throws(() => new Throttle(5, { scope: /** @type {any} */ ('tenant') }), InvalidArgument);
  assert.equal(new RetryAfterError(0).delayMs, 0);
  assert.equal(new RetryAfterError('250ms').delayMs, '250ms');
  const t = new Throttle(1.5, { scope: 'group' });
  assert.deepEqual([t.duration, t.scope, t.wire], [1.5, 'group', '1500ms']);
});

test('reserve() takes a name or an array of names in priority order; whole unix seconds or a Date for at: nothing else is sent', { timeout: 10_000 }, async () => {
  const fake = await recordingServer();
  const c = await connect({ port: fake.port });
  try {
    // A Set was named as if it were a queue name ("got {}"): the refusal says what is wanted.
    await assert.rejects(c.reserve(/** @type {any} */ (new Set(['a'])), { timeout: 0 }), /array of them in priority order \(got \[object Set\]\)/);
    for (const queues of [new Set(['a', 'b']), new Map([['a', 1]]), { q: 1 }, [], ['q\n'], 5]) {
      await assert.rejects(c.reserve(/** @type {any} */ (queues), { timeout: 0 }), InvalidArgument, String(queues));
    }
    await assert.rejects(c.reserve('q', { timeout: /** @type {any} */ (true) }), InvalidArgument);
    for (const at of [1.5, true, -1, NaN, Infinity, 1e10, new Date(NaN)]) {
      await assert.rejects(c.enqueue('q', 'x', { at: /** @type {any} */ (at) }), InvalidArgument, String(at));
    }
    for (const priority of [true, 0.5, 1e30, NaN]) {
      await assert.rejects(c.enqueue('q', 'x', { priority: /** @type {any} */ (priority) }), InvalidArgument, String(priority));
    }
    await c.flush();
    assert.deepEqual(fake.lines[0].filter((l) => !l.startsWith('CONNECT') && l !== 'PING'), []);
  } finally {
    await c.close();
    await fake.close();
  }
});
