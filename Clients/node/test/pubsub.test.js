import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { connect, NoResponders, TimeoutError, InvalidArgument } from '../src/index.js';
import { startServer, nextMsg, within, sleep } from '../testkit/helpers.js';

/** @type {import('../testkit/helpers.js').Server} */
let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.cleanup();
});

test('publish and subscribe, wildcards, headers, binary payloads', { timeout: 15_000 }, async () => {
  const sub = await connect({ port: server.port });
  const pub = await connect({ port: server.port });
  try {
    const all = sub.subscribe('orders.>');
    const one = sub.subscribe('orders.*');
    await sub.flush();

    pub.publish('orders.eu.new', 'order 42');
    pub.publish('orders.new', Buffer.from([0, 13, 10, 255]), { headers: { 'X-Trace': 'abc', Multi: ['1', '2'] } });
    pub.publish('orders.json', { n: 1 });
    await pub.flush();

    let m = await nextMsg(all);
    assert.equal(m.subject, 'orders.eu.new');
    assert.equal(m.string(), 'order 42');
    m = await nextMsg(all);
    assert.equal(m.subject, 'orders.new');
    assert.deepEqual([...m.data], [0, 13, 10, 255]);
    assert.equal(m.headers?.get('X-Trace'), 'abc');
    assert.deepEqual(m.headers?.getAll('Multi'), ['1', '2']);
    m = await nextMsg(all);
    assert.deepEqual(m.json(), { n: 1 });

    m = await nextMsg(one);
    assert.equal(m.subject, 'orders.new'); // orders.eu.new has three tokens
    m = await nextMsg(one);
    assert.equal(m.subject, 'orders.json');
  } finally {
    await sub.close();
    await pub.close();
  }
});

test('a large payload split over many reads arrives whole', { timeout: 15_000 }, async () => {
  const c = await connect({ port: server.port });
  try {
    const sub = c.subscribe('big');
    const data = Buffer.alloc(900_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    c.publish('big', data);
    c.publish('big', '');
    const m = await nextMsg(sub, 5000);
    assert.ok(m.data.equals(data));
    assert.equal((await nextMsg(sub)).data.length, 0);
    assert.throws(() => c.publish('big', Buffer.alloc(2 * 1024 * 1024)), InvalidArgument);
  } finally {
    await c.close();
  }
});

test('queue groups deliver each message to one member', { timeout: 15_000 }, async () => {
  const c = await connect({ port: server.port });
  try {
    const a = c.subscribe('work', { queue: 'g' });
    const b = c.subscribe('work', { queue: 'g' });
    await c.flush();
    for (let i = 0; i < 20; i++) c.publish('work', String(i));
    await c.flush();
    await sleep(50);
    assert.equal(a.pending + b.pending, 20);
  } finally {
    await c.close();
  }
});

test('unsubscribe, with and without max, ends the iterator', { timeout: 15_000 }, async () => {
  const c = await connect({ port: server.port });
  try {
    const sub = c.subscribe('count');
    sub.unsubscribe(3);
    for (let i = 0; i < 5; i++) c.publish('count', String(i));
    const got = [];
    await within(
      (async () => {
        for await (const m of sub) got.push(m.string());
      })(),
      2000,
      'iterator end',
    );
    assert.deepEqual(got, ['0', '1', '2']);

    const s2 = c.subscribe('stop.now', { max: 1 });
    c.publish('stop.now', 'x');
    assert.equal((await nextMsg(s2)).string(), 'x');
    await within(s2.closed, 1000, 'closed');

    const s3 = c.subscribe('gone');
    s3.unsubscribe();
    c.publish('gone', 'x');
    await c.flush();
    assert.equal(s3.pending, 0);
    assert.equal(s3.isClosed, true);

    assert.throws(() => c.subscribe('bad..subject'), InvalidArgument);
    assert.throws(() => c.publish('wild.*', 'x'), InvalidArgument);
  } finally {
    await c.close();
  }
});

test('request/reply, timeouts and no responders', { timeout: 15_000 }, async () => {
  const responder = await connect({ port: server.port });
  const requester = await connect({ port: server.port });
  try {
    const svc = responder.subscribe('math.double');
    (async () => {
      for await (const m of svc) m.respond(String(Number(m.string()) * 2), { headers: { 'X-Served-By': 'test' } });
    })();
    await responder.flush();

    const replies = await Promise.all([1, 2, 3].map((n) => requester.request('math.double', String(n), { timeout: 2000 })));
    assert.deepEqual(replies.map((r) => r.string()), ['2', '4', '6']);
    assert.equal(replies[0].headers?.get('X-Served-By'), 'test');

    await assert.rejects(requester.request('nobody.home', 'x', { timeout: 2000 }), NoResponders);

    const silent = responder.subscribe('silent');
    await responder.flush();
    await assert.rejects(requester.request('silent', 'x', { timeout: 150 }), TimeoutError);
    silent.unsubscribe();
  } finally {
    await responder.close();
    await requester.close();
  }
});

test('the server’s PINGs are answered', { timeout: 15_000 }, async () => {
  const s = await startServer({ args: ['--ping-interval', '100ms', '--max-pings-out', '2'] });
  const c = await connect({ port: s.port });
  try {
    let lost = false;
    c.on('disconnect', () => (lost = true));
    await sleep(700);
    assert.equal(lost, false);
    assert.equal(c.isConnected, true);
    await within(c.flush(), 1000, 'flush');
  } finally {
    await c.close();
    await s.cleanup();
  }
});
