// The live client against a scripted fake server: replies dribbled one byte at a time,
// asynchronous server errors, and a protocol violation that forces a reconnect.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';

import { connect, ConnectionLost, InvalidArgument, NotFound, ServerError, ProtocolError, TimeoutError } from '../src/index.js';
import { within, sleep, waitFor } from '../testkit/helpers.js';
import { fakeServer } from '../testkit/fake-server.js';

/** @param {net.Socket} socket @param {string} text */
async function dribble(socket, text) {
  for (const ch of Buffer.from(text, 'latin1')) {
    socket.write(Buffer.from([ch]));
    await sleep(1);
  }
}

test('replies split into single bytes, async errors, and a reconnect after a protocol error', { timeout: 15_000 }, async () => {
  const fake = await fakeServer((line, socket, index) => {
    if (index === 0 && line.startsWith('ENQ q 5')) {
      // the payload line ("hello") follows; answer once it arrives
      return;
    }
    if (index === 0 && line === 'hello') {
      dribble(socket, "-ERR 'Invalid Subject'\r\nPING\r\n+OK 41 duplicate\r\nJOB 41 q 1 7\r\na\r\nb\r\nc\r\n");
      return;
    }
    if (index === 0 && line === 'INSPECT 41') {
      socket.write('+OK\r\n'); // a reply that does not fit INSPECT: the client must drop the connection
      return;
    }
    if (index === 1 && line === 'PING') socket.write('PONG\r\n');
  });
  const c = await connect({ port: fake.port, reconnectDelayMs: 10 });
  /** @type {unknown[]} */
  const errors = [];
  c.on('error', (e) => errors.push(e));
  let reconnected = false;
  c.on('reconnect', () => (reconnected = true));
  try {
    const enq = c.enqueue('q', 'hello');
    const job = c.reserve('q', { timeout: 0 });
    assert.deepEqual(await within(enq, 3000, 'enqueue'), { id: 41, duplicate: true, replaced: false });
    const j = await within(job, 3000, 'reserve');
    assert.equal(j?.payload.toString(), 'a\r\nb\r\nc');
    assert.ok(errors[0] instanceof ServerError);
    assert.equal(/** @type {ServerError} */ (errors[0]).text, 'Invalid Subject');

    await assert.rejects(within(c.inspect(41), 3000, 'inspect'), ProtocolError);
    await waitFor(() => reconnected, 3000, 'reconnect');
    await within(c.flush(), 3000, 'flush on the new connection');
    assert.equal(fake.sockets.length, 2);
  } finally {
    await c.close();
    await fake.close();
  }
});

test('commands pipelined behind a broken connection reject with ConnectionLost', { timeout: 15_000 }, async () => {
  const fake = await fakeServer((line, socket) => {
    if (line === 'TOUCH 2') socket.destroy();
  });
  const c = await connect({ port: fake.port, reconnect: false });
  try {
    const results = await within(
      Promise.allSettled([c.touch(1), c.touch(2), c.touch(3)]),
      3000,
      'rejections',
    );
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.ok(r.reason instanceof ConnectionLost);
    }
  } finally {
    await c.close();
    await fake.close();
  }
});

test('connections dropped right after the handshake keep the reconnect backoff', { timeout: 15_000 }, async () => {
  // Each reconnect completes its handshake; a backoff that started over after every handshake
  // would reconnect every 50 ms (about thirty times in 1.6 s), carried on the waits double:
  // 50, 100, 200, 400, 800 ms, at most six connections in all.
  const fake = await fakeServer(() => {}, { dropAfterHandshake: true });
  const c = await connect({ port: fake.port, reconnectDelayMs: 50, maxReconnectDelayMs: 1000 });
  c.on('error', () => {});
  try {
    await sleep(1600);
    assert.ok(fake.sockets.length >= 3 && fake.sockets.length <= 7, `${fake.sockets.length} connections`);
  } finally {
    await c.close();
    await fake.close();
  }
});

test('reconnect waits get up to reconnectJitterMs more at random: clients a server lost at once do not retry in lockstep', { timeout: 15_000 }, async () => {
  const fake = await fakeServer();
  const same = { port: fake.port, reconnectDelayMs: 50, maxReconnectDelayMs: 50 };
  const clients = await Promise.all([...Array(8)].map(() => connect({ ...same, reconnectJitterMs: 100 })));
  const steady = await connect({ ...same, reconnectJitterMs: 0 });
  /** @type {number[]} */
  const waits = [];
  /** @type {number[]} */
  const steadyWaits = [];
  for (const c of clients) c.once('reconnecting', (_attempt, delay) => waits.push(delay));
  steady.once('reconnecting', (_attempt, delay) => steadyWaits.push(delay));
  try {
    fake.dropAll();
    await waitFor(() => waits.length === 8 && steadyWaits.length === 1, 5000, 'reconnecting events');
    assert.ok(waits.every((w) => w >= 50 && w <= 150), String(waits));
    assert.ok(new Set(waits).size > 4, `waits in lockstep: ${waits}`);
    assert.deepEqual(steadyWaits, [50]);
  } finally {
    await Promise.all([...clients, steady].map((c) => c.close()));
    await fake.close();
  }
  for (const bad of [-1, NaN, Infinity, '100']) {
    const err = await connect({ port: 1, reconnectJitterMs: /** @type {any} */ (bad) }).then(() => null, (e) => e);
    assert.ok(err instanceof InvalidArgument && /reconnectJitterMs/.test(err.message), String(err));
  }
});

test('an INFO max_payload that is no positive integer counts as none (it refused every payload)', { timeout: 10_000 }, async () => {
  for (const value of [-1, 0, true, 1.5]) {
    const fake = await fakeServer((line, socket) => {
      if (line === 'PING') socket.write('PONG\r\n');
    }, { info: { max_payload: value } });
    const c = await connect({ port: fake.port });
    try {
      c.publish('orders.new', 'hello');
      await within(c.flush(), 2000, 'flush');
    } finally {
      await c.close();
      await fake.close();
    }
  }
});

test('a reply that comes with a reconnect\'s PONG never passes for the reply to a command held meanwhile', { timeout: 15_000 }, async () => {
  // Connection 1 sends a stray '+OK 77' with its PONG: taken for the held ENQ's reply, it made
  // enqueue() return job 77. It is a protocol error; connection 2 answers the ENQ for real.
  const fake = await fakeServer((line, socket) => {
    if (line.startsWith('ENQ ')) socket.write('+OK 5\r\n');
  }, { withPong: (index) => (index === 1 ? '+OK 77\r\n' : '') });
  const c = await connect({ port: fake.port, reconnectDelayMs: 20, commandTimeoutMs: 5000 });
  c.on('error', () => {});
  try {
    const lost = new Promise((resolve) => c.once('disconnect', resolve));
    fake.dropAll();
    await lost;
    const r = await c.enqueue('q', 'x');
    assert.equal(r.id, 5);
    assert.equal(fake.sockets.length, 3, 'the stray reply dropped connection 1');
  } finally {
    await c.close();
    await fake.close();
  }
});

test('anything a server sends before its INFO fails the attempt at once: an -ERR as ServerError, the rest as ProtocolError', { timeout: 15_000 }, async () => {
  // They were taken as traffic of a connection not up yet (the -ERR only emitted, the rest
  // ignored): connect() went on when INFO followed, and waited out connectTimeoutMs when not.
  for (const [first, kind] of /** @type {const} */ ([["-ERR 'go away'\r\n", ServerError], ['PONG\r\n', ProtocolError], ['+OK 5\r\n', ProtocolError]])) {
    const fake = await fakeServer(() => {}, { beforeInfo: () => first });
    try {
      const failed = await connect({ port: fake.port, connectTimeoutMs: 5000, maxReconnectAttempts: 0 }).then(
        (c) => (c.close(), null),
        (e) => e,
      );
      assert.ok(failed instanceof kind, `${JSON.stringify(first)}: ${failed}`);
      if (failed instanceof ServerError) assert.equal(failed.text, 'go away');
    } finally {
      await fake.close();
    }
  }
});

test('a MSG sent before a reconnect\'s INFO reaches no subscription; the attempt fails and the next one delivers', { timeout: 15_000 }, async () => {
  let sid = '';
  const fake = await fakeServer((line, socket) => {
    if (line.startsWith('SUB news ')) sid = line.split(' ')[2];
    if (line === 'PING') socket.write('PONG\r\n');
  }, {
    beforeInfo: (index) => (index === 1 ? `MSG news ${sid} 5\r\nearly\r\n` : ''),
    withPong: (index) => (index === 2 ? `MSG news ${sid} 4\r\nlate\r\n` : ''),
  });
  const c = await connect({ port: fake.port, reconnectDelayMs: 20 });
  c.on('error', () => {});
  try {
    const sub = c.subscribe('news');
    await c.flush();
    fake.dropAll();
    const first = await within(sub[Symbol.asyncIterator]().next(), 5000, 'a message');
    assert.equal(first.value.string(), 'late');
    assert.equal(fake.sockets.length, 3, 'connection 1 was given up');
  } finally {
    await c.close();
    await fake.close();
  }
});

test('an -ERR without a code fails the job command waiting for it, with its text', { timeout: 15_000 }, async () => {
  /** @type {Record<string, string>} */
  const replies = { 'TOUCH 1': "-ERR 'something went wrong'\r\n", 'TOUCH 2': "-ERR 'NOT_FOUND job 2 does not exist'\r\n", 'TOUCH 3': '+OK\r\n' };
  const fake = await fakeServer((line, socket) => {
    if (Object.hasOwn(replies, line)) socket.write(replies[line]);
  });
  // Before the fix the first call waited out this timeout and rejected with TimeoutError.
  const c = await connect({ port: fake.port, commandTimeoutMs: 10_000 });
  /** @type {unknown[]} */
  const errors = [];
  c.on('error', (e) => errors.push(e));
  try {
    const err = await c.touch(1).then(() => null, (e) => e);
    assert.ok(err instanceof ServerError, `got ${err}`);
    assert.equal(err.text, 'something went wrong');
    // Replies still line up with their commands after it.
    await assert.rejects(c.touch(2), NotFound);
    await c.touch(3);
    assert.deepEqual(errors, []);
    assert.equal(fake.sockets.length, 1);
  } finally {
    await c.close();
    await fake.close();
  }
});

test('a command issued as a protocol error breaks the connection waits for the reconnect: it does not fail with it', { timeout: 15_000 }, async () => {
  const fake = await fakeServer((line, socket, index) => {
    if (index === 0 && line === 'x') socket.write('NOJOB\r\n'); // no reply an ENQ can have
    if (index === 1 && line === 'y') socket.write('+OK 7\r\n');
    if (index === 1 && line === 'PING') socket.write('PONG\r\n');
  });
  const c = await connect({ port: fake.port, reconnectDelayMs: 10 });
  c.on('error', () => {});
  try {
    // Issued by the caller the failure rejects, before the socket's close: it was written to
    // the dead socket and failed with ConnectionLost.
    const next = c.enqueue('q', 'x').then(
      () => assert.fail('a NOJOB read as an ENQ reply'),
      (e) => {
        assert.ok(e instanceof ProtocolError, String(e));
        return c.enqueue('q', 'y');
      },
    );
    assert.deepEqual(await within(next, 5000, 'the enqueue issued at the failure'), { id: 7, duplicate: false, replaced: false });
    assert.equal(fake.sockets.length, 2);
  } finally {
    await c.close();
    await fake.close();
  }
});

/**
 * Answers the first RESERVE of the first connection as `kind` says, every other RESERVE with
 * NOJOB, and CANCEL with +OK.
 * @param {string} kind
 */
function hostileAnswer(kind) {
  let first = true;
  // One line at a time, in order, as a server answers: a slow answer holds back the rest.
  let turn = Promise.resolve();
  /** @param {string} line @param {net.Socket} socket */
  const answer = async (line, socket) => {
    if (line === 'CANCEL') socket.write('+OK\r\n');
    if (!line.startsWith('RESERVE ')) return;
    if (!first) {
      socket.write('NOJOB\r\n');
      return;
    }
    first = false;
    const chunk = Buffer.alloc(65536, 0x78);
    if (kind === 'endless line' || kind === 'huge line') {
      socket.write('+OK ');
      // 256 MiB at most, written as the client takes it: it must give up long before.
      for (let i = 0; i < 4096 && !socket.destroyed; i++) {
        if (!socket.write(chunk)) await new Promise((r) => { socket.once('drain', r); socket.once('close', r); });
      }
      if (kind === 'huge line' && !socket.destroyed) socket.write('\r\n');
    } else if (kind === 'slow') {
      await sleep(1500);
      socket.write('NOJOB\r\n');
    } else if (kind === 'closed mid-payload') {
      socket.end('JOB 1 q 1 100\r\nabc');
    } else {
      socket.write(kind);
    }
  };
  /** @param {string} line @param {net.Socket} socket */
  return (line, socket) => {
    turn = turn.then(() => answer(line, socket));
  };
}

for (const kind of ['endless line', 'huge line', 'JOB 1 q 1 9223372036854775808\r\n', 'JOB 1 q 1 -5\r\nabc\r\n',
  'closed mid-payload', 'NOJOB garbage\r\n', '+OK\r\nNOJOB\r\n', 'slow']) {
  test(`a hostile answer (${JSON.stringify(kind)}) fails the call within its timeout; the next call is answered`, { timeout: 15_000 }, async () => {
    const fake = await fakeServer(hostileAnswer(kind));
    const c = await connect({ port: fake.port, commandTimeoutMs: 1000, reconnectDelayMs: 20 });
    try {
      const started = performance.now();
      await assert.rejects(within(c.reserve('q', { timeout: 0 }), 5000, 'the first reserve'), (e) => e instanceof Error);
      assert.ok(performance.now() - started < 3000, `took ${performance.now() - started} ms`);
      assert.equal(await within(c.reserve('q', { timeout: 0 }), 5000, 'the next reserve'), null);
    } finally {
      await c.close();
      await fake.close();
    }
  });
}

test('a timed-out RESERVE with timeout 0 sends no CANCEL: the server never held the connection for it', { timeout: 15_000 }, async () => {
  /** @type {string[]} */
  const lines = [];
  // Answers in order, as a server does: the late NOJOB before anything sent behind the RESERVE.
  let answered = Promise.resolve();
  const fake = await fakeServer((line, socket) => {
    lines.push(line);
    if (line.startsWith('RESERVE ')) answered = answered.then(() => sleep(600)).then(() => socket.write('NOJOB\r\n')); // past commandTimeoutMs
    else if (line === 'CANCEL') answered = answered.then(() => socket.write('+OK\r\n'));
    else if (line === 'PING') answered = answered.then(() => socket.write('PONG\r\n'));
  });
  const c = await connect({ port: fake.port, commandTimeoutMs: 200 });
  try {
    await assert.rejects(c.reserve('q', { timeout: 0 }), TimeoutError);
    await sleep(300); // room for a CANCEL, which went out at once when one was sent
    await within(c.flush(), 3000, 'flush'); // its PING goes behind whatever was sent
    assert.ok(lines[0].startsWith('RESERVE '));
    assert.ok(!lines.includes('CANCEL'), `sent: ${JSON.stringify(lines)}`);
  } finally {
    await c.close();
    await fake.close();
  }
});
