// Authentication: credentials in CONNECT, where they come from, refusals, redaction, reconnects.
// The first half runs against the fake server (exact CONNECT bytes), the second against a real
// docketd started with --auth or --user/--pass; those skip when the binary's --help does not list
// --auth (a server that predates it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { inspect } from 'node:util';

import { AuthorizationError, Client, connect, DocketError, ServerError, VERSION, Worker } from '../src/index.js';
import { DOCKETD, quietLogger, sleep, startServer, waitFor, within } from '../testkit/helpers.js';
import { fakeServer } from '../testkit/fake-server.js';

const PASSWORD = 's3cret-Pa55';
const TOKEN = 't0ken-XYZ';
const ENV_NAMES = ['DOCKET_USER', 'DOCKET_PASS', 'DOCKET_TOKEN'];

// Neither the clients nor a docketd started here see stray credentials (docketd reads these names too).
for (const name of ENV_NAMES) delete process.env[name];

/**
 * Runs `fn` with these environment variables set, then removes them.
 * @template T @param {Record<string, string>} vars @param {() => Promise<T>} fn
 */
async function withEnv(vars, fn) {
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const name of Object.keys(vars)) delete process.env[name];
  }
}

/** @param {Record<string, unknown>} c the user/pass/auth_token keys of a CONNECT */
function authKeys(c) {
  return Object.fromEntries(Object.entries(c).filter(([k]) => ['user', 'pass', 'auth_token'].includes(k)));
}

/** A fake server's onLine that answers PING. @param {string} line @param {import('node:net').Socket} socket */
const answerPings = (line, socket) => {
  if (line === 'PING') socket.write('PONG\r\n');
};

/** Connects, checks the connection works, closes. @param {any} options */
async function connectOnce(options) {
  const c = await within(connect(options), 3000, 'connect');
  try {
    await within(c.flush(), 3000, 'flush');
  } finally {
    await c.close();
  }
}

// ---------------------------------------------------------------------------------------------
// CONNECT bytes

test('CONNECT carries the token, and user and pass', { timeout: 10_000 }, async () => {
  const fake = await fakeServer(answerPings, { info: { auth_required: true } });
  try {
    await connectOnce({ port: fake.port, token: TOKEN, name: 't' });
    assert.equal(
      fake.connects[0],
      `CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"echo":true,"protocol":1,"lang":"node","version":"${VERSION}","name":"t","auth_token":"${TOKEN}"}\r\n`,
    );
    await connectOnce({ port: fake.port, user: 'alice', pass: PASSWORD });
    assert.ok(fake.connects[1].endsWith(`,"user":"alice","pass":"${PASSWORD}"}\r\n`), fake.connects[1]);
    assert.ok(!fake.connects[1].includes('auth_token'));
    await connectOnce({ port: fake.port });
    assert.deepEqual(authKeys(fake.connectJson(2)), {});
  } finally {
    await fake.close();
  }
});

test('credentials from the url, with or without nats://', { timeout: 10_000 }, async () => {
  const fake = await fakeServer(answerPings);
  const cases = [
    [`alice:${PASSWORD}@`, { user: 'alice', pass: PASSWORD }],
    [`${TOKEN}@`, { auth_token: TOKEN }],
    ['al%40ce:p%3Aw%2Fd%40x@', { user: 'al@ce', pass: 'p:w/d@x' }], // percent-encoded
  ];
  try {
    for (const [userinfo, expected] of cases) {
      for (const scheme of ['nats://', '']) {
        const url = `${scheme}${userinfo}127.0.0.1:${fake.port}`;
        await connectOnce(url); // connect(url)
        assert.deepEqual(authKeys(fake.connectJson()), expected, url);
        await connectOnce({ url, reconnectDelayMs: 10 }); // connect({url, ...})
        assert.deepEqual(authKeys(fake.connectJson()), expected, url);
      }
    }
  } finally {
    await fake.close();
  }
});

test('credentials from the environment; options, then url, then environment', { timeout: 10_000 }, async () => {
  const fake = await fakeServer(answerPings);
  try {
    await withEnv({ DOCKET_USER: 'envuser', DOCKET_PASS: PASSWORD }, () => connectOnce({ port: fake.port }));
    assert.deepEqual(authKeys(fake.connectJson()), { user: 'envuser', pass: PASSWORD });
    await withEnv({ DOCKET_TOKEN: TOKEN }, () => connectOnce({ port: fake.port }));
    assert.deepEqual(authKeys(fake.connectJson()), { auth_token: TOKEN });

    const url = `nats://urluser:urlpass@127.0.0.1:${fake.port}`;
    await withEnv({ DOCKET_TOKEN: 'from-env' }, async () => {
      await connectOnce({ url, token: 'from-options' });
      assert.deepEqual(authKeys(fake.connectJson()), { auth_token: 'from-options' }); // url and env ignored
      await connectOnce({ url });
      assert.deepEqual(authKeys(fake.connectJson()), { user: 'urluser', pass: 'urlpass' }); // env ignored
      await connectOnce({ port: fake.port });
      assert.deepEqual(authKeys(fake.connectJson()), { auth_token: 'from-env' });
    });
  } finally {
    await fake.close();
  }
});

test('pass without user is refused before anything is sent', { timeout: 5_000 }, async () => {
  const fake = await fakeServer(answerPings);
  try {
    await assert.rejects(connect({ port: fake.port, pass: PASSWORD }), { code: 'INVALID_ARGUMENT' });
    await sleep(50);
    assert.equal(fake.connects.length, 0);
  } finally {
    await fake.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Refusals, redaction, reconnects (fake server)

test('a refused CONNECT rejects at once with AuthorizationError, without secrets', { timeout: 10_000 }, async () => {
  const fake = await fakeServer(answerPings, { accept: () => false });
  try {
    const started = performance.now();
    const err = await connect({ url: `nats://alice:${PASSWORD}@127.0.0.1:${fake.port}`, reconnectDelayMs: 10 }).then(
      () => assert.fail('connected'),
      (e) => e,
    );
    assert.ok(performance.now() - started < 2000);
    assert.ok(err instanceof AuthorizationError && err instanceof ServerError);
    assert.equal(err.code, 'AUTHORIZATION_VIOLATION');
    assert.equal(err.text, 'Authorization Violation');
    assert.match(err.message, /alice/);
    for (const text of [err.message, String(err), inspect(err), err.stack ?? '']) assert.ok(!text.includes(PASSWORD), text);
    await sleep(100);
    assert.equal(fake.connects.length, 1); // not retried

    const none = await connect({ port: fake.port }).catch((e) => e);
    assert.ok(none instanceof AuthorizationError);
    assert.match(none.message, /no credentials were given/);
  } finally {
    await fake.close();
  }
});

test('inspect, JSON and options of clients and workers hide the password and token', { timeout: 10_000 }, async () => {
  const fake = await fakeServer(answerPings);
  try {
    const c = await connect(`nats://alice:${PASSWORD}@127.0.0.1:${fake.port}`);
    const t = await connect({ port: fake.port, token: TOKEN });
    try {
      assert.equal(c.options.url, `nats://alice:***@127.0.0.1:${fake.port}`);
      assert.equal(c.authentication, 'user "alice" with a password (from the url)');
      for (const x of [c, t]) {
        for (const text of [inspect(x, { depth: 5, showHidden: true }), JSON.stringify(x.options), String(x)]) {
          assert.ok(!text.includes(PASSWORD) && !text.includes(TOKEN), text);
        }
      }
    } finally {
      await c.close();
      await t.close();
    }
    const w = new Worker({ url: `${TOKEN}@127.0.0.1:${fake.port}`, user: 'bob', pass: PASSWORD, queues: 'q', handler: () => {}, handleSignals: false });
    const text = inspect(w, { depth: 5, showHidden: true }) + JSON.stringify(w.connection);
    assert.ok(!text.includes(PASSWORD) && !text.includes(TOKEN), text);
    const bad = await connect({ url: `nats://alice:${PASSWORD}@127.0.0.1:notaport` }).catch((e) => e);
    assert.equal(bad.code, 'INVALID_ARGUMENT');
    assert.ok(!bad.message.includes(PASSWORD), bad.message);
  } finally {
    await fake.close();
  }
});

test('a reconnect sends the credentials again; refused reconnects back off and emit error', { timeout: 10_000 }, async () => {
  let allow = true;
  const fake = await fakeServer(answerPings, { accept: (c) => allow && c.auth_token === TOKEN });
  const c = await connect({ port: fake.port, token: TOKEN, reconnectDelayMs: 50, maxReconnectDelayMs: 400 });
  /** @type {unknown[]} */
  const errors = [];
  c.on('error', (e) => errors.push(e));
  try {
    allow = false; // the "restarted" server now refuses these credentials
    const from = performance.now();
    fake.dropAll();
    await sleep(1200);
    const attempts = fake.arrivals.filter((t) => t >= from).length;
    // backoff 50, 100, 200, 400, 400, … ms: about 5 attempts in 1.2 s, not hundreds
    assert.ok(attempts >= 2 && attempts <= 8, `attempts: ${attempts}`);
    assert.ok(errors.length >= 1 && errors.every((e) => e instanceof AuthorizationError), inspect(errors));
    assert.ok(!c.isClosed);
    allow = true;
    await waitFor(() => c.isConnected, 3000, 'reconnect');
    await within(c.flush(), 2000, 'flush');
    for (let i = 0; i < fake.connects.length; i++) assert.deepEqual(authKeys(fake.connectJson(i)), { auth_token: TOKEN });
  } finally {
    await c.close();
    await fake.close();
  }
});

test('a worker whose credentials are refused logs at error and backs off', { timeout: 10_000 }, async () => {
  const fake = await fakeServer(answerPings, { accept: () => false });
  const logger = quietLogger();
  const worker = new Worker({ port: fake.port, user: 'alice', pass: PASSWORD, queues: 'q', handler: () => {}, handleSignals: false, logger });
  const starting = worker.start().catch((e) => e);
  try {
    await sleep(1000);
  } finally {
    await within(worker.stop(), 5000, 'stop');
    await within(starting, 3000, 'start to give up');
    await fake.close();
  }
  // backoff 50, 100, 200, 400, … ms: a handful of attempts in a second
  assert.ok(fake.arrivals.length >= 2 && fake.arrivals.length <= 8, `attempts: ${fake.arrivals.length}`);
  const refused = logger.lines.filter((l) => l.includes('cannot connect'));
  assert.ok(refused.length >= 2 && refused.every((l) => l.startsWith('error ') && l.includes('Authorization Violation')), refused.join('\n'));
  assert.ok(!logger.lines.join('\n').includes(PASSWORD));
  assert.deepEqual(authKeys(fake.connectJson(0)), { user: 'alice', pass: PASSWORD });
});

test('FORBIDDEN is a job error that keeps the connection; unknown codes pass through', { timeout: 10_000 }, async () => {
  const fake = await fakeServer((line, socket) => {
    if (line === 'INSPECT 1') socket.write("-ERR 'FORBIDDEN INSPECT is not allowed for this user'\r\n");
    if (line === 'INSPECT 2') socket.write("-ERR 'SOMETHING_NEW a code from a later server'\r\n");
    if (line === 'PING') socket.write('PONG\r\n');
  });
  const c = await connect({ port: fake.port, token: TOKEN });
  try {
    const forbidden = await c.inspect(1).catch((e) => e);
    assert.ok(forbidden instanceof DocketError);
    assert.equal(forbidden.code, 'FORBIDDEN');
    assert.equal(forbidden.serverMessage, 'INSPECT is not allowed for this user');
    const other = await c.inspect(2).catch((e) => e);
    assert.ok(other instanceof DocketError);
    assert.equal(other.code, 'SOMETHING_NEW');
    await within(c.flush(), 2000, 'flush');
    assert.ok(c.isConnected);
    assert.equal(fake.sockets.length, 1);
  } finally {
    await c.close();
    await fake.close();
  }
});

// ---------------------------------------------------------------------------------------------
// A real docketd with authentication

/** Whether the binary knows --auth, from its own --help (missing binary: let startServer say so). */
function docketdHasAuth() {
  if (!existsSync(DOCKETD)) return true;
  const r = spawnSync(DOCKETD, ['--help'], { encoding: 'utf8', timeout: 10_000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.includes('--auth');
}
const skipLive = docketdHasAuth() ? false : 'this docketd has no --auth (its --help does not list it)';

const USER_ARGS = ['--user', 'alice', '--pass', PASSWORD];
const TOKEN_ARGS = ['--auth', TOKEN];

test('live: token, from the options and from the url', { timeout: 10_000, skip: skipLive }, async () => {
  const server = await startServer({ args: TOKEN_ARGS });
  try {
    const c = await connect({ port: server.port, token: TOKEN });
    try {
      assert.equal(c.info?.auth_required, true);
      const { id } = await c.enqueue('auth-q', 'x');
      assert.equal((await c.inspect(id)).state, 'waiting');
    } finally {
      await c.close();
    }
    await connectOnce(`nats://${TOKEN}@127.0.0.1:${server.port}`);
    await assert.rejects(connect({ port: server.port, token: `not-${TOKEN}` }), AuthorizationError);
  } finally {
    await server.cleanup();
  }
});

test('live: user and pass, from the options, the url and the environment', { timeout: 10_000, skip: skipLive }, async () => {
  const server = await startServer({ args: USER_ARGS });
  try {
    const c = await connect({ port: server.port, user: 'alice', pass: PASSWORD });
    try {
      assert.ok((await c.enqueue('auth-q', 'x')).id >= 1);
    } finally {
      await c.close();
    }
    await connectOnce(`nats://alice:${PASSWORD}@127.0.0.1:${server.port}`);
    await connectOnce(`alice:${PASSWORD}@127.0.0.1:${server.port}`);
    // only now: docketd reads these names too
    await withEnv({ DOCKET_USER: 'alice', DOCKET_PASS: PASSWORD }, () => connectOnce({ port: server.port }));
  } finally {
    await server.cleanup();
  }
});

test('live: a wrong password or none fails fast with AuthorizationError, never showing it', { timeout: 10_000, skip: skipLive }, async () => {
  const server = await startServer({ args: USER_ARGS });
  try {
    const wrong = `wrong-${PASSWORD}`;
    let started = performance.now();
    const err = await connect(`nats://alice:${wrong}@127.0.0.1:${server.port}`).catch((e) => e);
    assert.ok(performance.now() - started < 2000);
    assert.ok(err instanceof AuthorizationError, inspect(err));
    assert.equal(err.code, 'AUTHORIZATION_VIOLATION');
    for (const text of [err.message, inspect(err)]) assert.ok(!text.includes(wrong) && !text.includes(PASSWORD), text);
    started = performance.now();
    const none = await connect({ port: server.port }).catch((e) => e);
    assert.ok(performance.now() - started < 2000);
    assert.ok(none instanceof AuthorizationError, inspect(none));
    assert.match(none.message, /no credentials/);
  } finally {
    await server.cleanup();
  }
});

test('live: a reconnect after the server restarts sends the credentials again', { timeout: 15_000, skip: skipLive }, async () => {
  let server = await startServer({ args: USER_ARGS });
  const { port, dataDir } = server;
  const c = await connect({ port, user: 'alice', pass: PASSWORD, reconnectDelayMs: 20, maxReconnectDelayMs: 200 });
  try {
    const sub = c.subscribe('news');
    const { id } = await c.enqueue('auth-q', 'kept');
    await server.stop();
    await waitFor(() => !c.isConnected, 5000, 'disconnect');
    server = await startServer({ port, dataDir, args: USER_ARGS });
    await waitFor(() => c.isConnected, 10_000, 'reconnect');
    assert.equal(c.reconnects, 1);
    assert.equal((await c.inspect(id)).state, 'waiting');
    c.publish('news', 'after the restart');
    const it = sub[Symbol.asyncIterator]();
    const msg = await within(it.next(), 3000, 'a message');
    assert.equal(msg.value?.string(), 'after the restart');
  } finally {
    await c.close();
    await server.cleanup();
  }
});

test('live: a worker with credentials runs jobs', { timeout: 10_000, skip: skipLive }, async () => {
  const server = await startServer({ args: TOKEN_ARGS });
  const c = await connect({ port: server.port, token: TOKEN });
  const worker = new Worker({ port: server.port, token: TOKEN, queues: 'auth-work', handler: () => 'done', reserveTimeoutMs: 200, handleSignals: false, logger: quietLogger() });
  try {
    const { id } = await c.enqueue('auth-work', 'job');
    await within(worker.start(), 3000, 'worker start');
    await waitFor(async () => (await c.inspect(id)).state === 'completed', 5000, 'job completed');
  } finally {
    await within(worker.stop(), 5000, 'stop');
    await c.close();
    await server.cleanup();
  }
});
