// Parity with the server: every verb, ENQ option and queue setting the server's HELP lists has a
// client call; every job error code arrives as a DocketError whose connection stays usable
// (LIMIT, STORE_FULL, NOT_HELD, NOT_DEAD, NOT_DELAYED, BAD_QUEUE, BAD_ID, BAD_OPTION, NOT_FOUND;
// UNAVAILABLE needs PostgreSQL, so only its class is checked here); NATS errors
// (maximum connections, permission violations) arrive as typed ServerErrors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import * as docket from '../src/index.js';
import { Client, connect, commandBytes, DocketError, InvalidArgument, PermissionError, ProtocolError, ServerError, StoreFull, Subscription } from '../src/index.js';
import { Parser, encodeWait, parseRoutedReply, route } from '../src/protocol.js';
import { startServer, within, lmdbOnly } from '../testkit/helpers.js';
import { natsSkipReason, startNatsServer } from '../testkit/tls.js';

// ---------------------------------------------------------------------------------------------
// HELP → client calls

/** Server verb → the client calls that send it. */
const VERB_CALLS = {
  CONNECT: ['connect'],
  PUB: ['publish', 'request', 'publishRouted'],
  HPUB: ['publish', 'request', 'publishRouted'],
  SUB: ['subscribe', 'events'],
  UNSUB: ['Subscription.unsubscribe'],
  PING: ['flush'],
  PONG: ['(answered by the client)'],
  ENQ: ['enqueue'],
  BATCH: ['batch'],
  PARENTS: ['parents'],
  CHILDREN: ['children', 'childrenAll'],
  RESERVE: ['reserve'],
  CANCEL: ['(sent by reserve() when its caller gives up)'],
  ACK: ['ack'],
  FAIL: ['fail'],
  PROGRESS: ['progress'],
  TOUCH: ['touch'],
  INSPECT: ['inspect'],
  DEAD: ['dead'],
  RETRY: ['retry', 'retryQueue'],
  DEL: ['delete'],
  LIST: ['list', 'listAll'],
  PURGE: ['purge'],
  PROMOTE: ['promote'],
  SCHEDULE: ['schedule'],
  UNSCHEDULE: ['unschedule'],
  SCHEDULES: ['schedules', 'schedulesAll'],
  QUEUE: ['queue', 'setQueue'],
  PAUSE: ['pause', 'pauseSchedule'],
  RESUME: ['resume', 'resumeSchedule'],
  STATS: ['stats'],
  QUEUES: ['queues'],
  WAIT: ['wait'],
  ROUTE: ['route'],
  UNROUTE: ['unroute'],
  ROUTES: ['routes', 'routesPage'],
  HELP: ['help'],
};
/** ENQ option (wire) → enqueue option. */
const ENQ_OPTIONS = {
  delay: 'delay',
  at: 'at',
  pri: 'priority',
  attempts: 'attempts',
  backoff: 'backoff',
  jitter: 'jitter',
  lease: 'lease',
  key: 'key',
  group: 'group',
  ttl: 'ttl',
  expires: 'expires',
  after: 'after',
  on_parent_dead: 'onParentDead',
  key_ttl: 'keyTtl',
  replace: 'replace',
};
/** QUEUE setting (wire) → setQueue option. */
const QUEUE_SETTINGS = {
  rate: 'rate',
  group_rate: 'groupRate',
  concurrency: 'concurrency',
  attempts: 'attempts',
  backoff: 'backoff',
  jitter: 'jitter',
  lease: 'lease',
  keep_completed: 'keepCompleted',
  keep_dead: 'keepDead',
};

test('live: every verb, ENQ option and queue setting in the server’s HELP has a client call', { timeout: 8000 }, async () => {
  const server = await startServer();
  const c = await connect({ port: server.port });
  try {
    const text = await c.help();
    const verbs = new Set();
    for (const line of text.split(/\r?\n/)) {
      const usage = line.split(/ {2,}/)[0];
      for (const part of usage.split(/ [/|] /)) {
        const verb = /^([A-Z]+)\b/.exec(part.trim())?.[1];
        if (verb) verbs.add(verb);
      }
    }
    assert.ok(verbs.size >= 25, `HELP lists the verbs: ${[...verbs].join(' ')}`);
    const missing = [...verbs].filter((v) => !(v in VERB_CALLS));
    assert.deepEqual(missing, [], `verbs without a client call: ${missing.join(', ')}`);
    for (const v of verbs) {
      for (const call of VERB_CALLS[/** @type {keyof VERB_CALLS} */ (v)]) {
        if (call.startsWith('(')) continue;
        if (call === 'connect') continue;
        const [owner, name] = call.includes('.') ? call.split('.') : ['Client', call];
        const proto = owner === 'Client' ? Client.prototype : Subscription.prototype;
        assert.equal(typeof proto[name], 'function', `${v}: ${call}`);
      }
    }
    const enqOpts = /opts: ([a-z_ ]+)/.exec(text.split(/\r?\n/).find((l) => l.startsWith('ENQ ')) ?? '')?.[1].trim().split(/\s+/) ?? [];
    assert.ok(enqOpts.length >= 8, 'HELP lists the ENQ options');
    assert.deepEqual(enqOpts.filter((o) => !(o in ENQ_OPTIONS)), [], 'ENQ options without an enqueue option');
    const settings = /rate [a-z_ ]+/.exec(text.split(/\r?\n/).find((l) => l.startsWith('QUEUE ')) ?? '')?.[0].trim().split(/\s+/) ?? [];
    assert.ok(settings.length >= 9, 'HELP lists the queue settings');
    assert.deepEqual(settings.filter((s) => !(s in QUEUE_SETTINGS)), [], 'queue settings without a setQueue option');
    // And each is accepted by the real server, through the client.
    await c.setQueue('parity', { rate: '10/1s', groupRate: '5/1s', concurrency: 2, attempts: 4, backoff: 'fixed:1s', jitter: 0.5, lease: '45s', keepCompleted: 10, keepDead: 20 });
    const { id } = await c.enqueue('parity', 'x', { delay: 0, priority: -5, attempts: 2, backoff: { type: 'exp', base: '1s', cap: '1m' }, jitter: 0.1, lease: 5000, key: 'k1', group: 'g1', ttl: '1h' });
    const at = await c.enqueue('parity', 'y', { at: new Date(Date.now() + 3_600_000), expires: new Date(Date.now() + 7_200_000) });
    assert.equal((await c.inspect(at.id)).state, 'delayed');
    const doc = await c.inspect(id);
    assert.equal(doc.priority, -5);
    assert.equal(doc.key, 'k1');
    assert.equal(doc.group, 'g1');
    assert.equal(typeof doc.expires_at, 'number', 'ttl= sets expires_at');
    // after= and on_parent_dead=, BATCH and PARENTS.
    const child = await c.enqueue('parity', 'z', { after: [id, at.id], onParentDead: 'run' });
    assert.deepEqual((await c.inspect(child.id)).parents, [id, at.id]);
    const ids = await c.batch([{ queue: 'parity', payload: 'a' }, { queue: 'parity', after: ['#1', child.id] }]);
    assert.deepEqual((await c.parents(ids[1])).map((p) => p.id), [ids[0], child.id]);
  } finally {
    await c.close();
    await server.cleanup();
  }
});

// ---------------------------------------------------------------------------------------------
// Job error codes

/** Each code of PROTOCOL.md's table, and its class. */
const CODE_CLASSES = {
  BAD_QUEUE: docket.BadQueue,
  BAD_OPTION: docket.BadOption,
  BAD_ID: docket.BadId,
  NOT_FOUND: docket.NotFound,
  NOT_HELD: docket.NotHeld,
  NOT_DEAD: docket.NotDead,
  NOT_DELAYED: docket.NotDelayed,
  STORE_FULL: docket.StoreFull,
  LIMIT: docket.LimitReached,
  FORBIDDEN: docket.Forbidden,
  UNAVAILABLE: docket.Unavailable,
};

/** @param {keyof typeof CODE_CLASSES} code */
const isCode = (code) => (/** @type {unknown} */ e) =>
  e instanceof CODE_CLASSES[code] && e instanceof DocketError && e.code === code && e.serverMessage.length > 0;

test('every job error code has its DocketError subclass; unknown codes are plain DocketErrors', () => {
  /** @param {string} text */
  const reply = (text) => {
    const frames = [];
    new Parser((f) => frames.push(f)).push(Buffer.from(`-ERR '${text}'\r\n`));
    return route(frames[0], 'enqueue').error;
  };
  for (const [code, Class] of Object.entries(CODE_CLASSES)) {
    const err = reply(`${code} some text`);
    assert.ok(err instanceof Class && err instanceof DocketError, code);
    assert.equal(err.code, code);
    assert.equal(err.serverMessage, 'some text');
    assert.equal(err.name, Class.name);
  }
  const later = reply('BRAND_NEW from a later server');
  assert.equal(later.constructor, DocketError);
  assert.equal(later.code, 'BRAND_NEW');
});

test('a route\'s reply: the job ids, a refusal as StoreFull, anything else a protocol error', () => {
  assert.deepEqual(parseRoutedReply(Buffer.from('{"jobs":[3,4]}')), [3, 4]);
  assert.deepEqual(parseRoutedReply(Buffer.from('{"jobs":[]}')), []);
  assert.throws(() => parseRoutedReply(Buffer.from('{"jobs":[],"error":{"code":"STORE_FULL","message":"the store is 91% full"}}')), (e) => {
    assert.ok(e instanceof StoreFull);
    assert.equal(e.serverMessage, 'the store is 91% full');
    return true;
  });
  for (const bad of ['nope', '[1]', '{"jobs":5}', '{"jobs":[0]}', '{"jobs":[1.5]}', '{"jobs":[],"error":"x"}']) {
    assert.throws(() => parseRoutedReply(Buffer.from(bad)), ProtocolError, bad);
  }
});

test('job ids: at most 19 digits; one a JavaScript number cannot hold exactly is its exact decimal string, never a rounded id', () => {
  const frames = [];
  const p = new Parser((f) => frames.push(f));
  p.push(Buffer.from('PENDING 9007199254740991 waiting\r\n'));
  p.push(Buffer.from('PENDING 9007199254740993 waiting\r\n'));
  p.push(Buffer.from('OUTCOME 9999999999999999999 dead 0\r\n\r\n'));
  assert.equal(frames[0].id, Number.MAX_SAFE_INTEGER);
  assert.equal(frames[1].id, '9007199254740993');
  assert.equal(frames[2].id, '9999999999999999999');
  for (const line of ['JOB 12345678901234567890 q 1 0\r\n\r\n', 'PENDING 0 waiting\r\n']) {
    assert.throws(() => new Parser(() => {}).push(Buffer.from(line)), ProtocolError, line);
  }
  const ok = [];
  new Parser((f) => ok.push(f)).push(Buffer.from('+OK 9999999999999999999\r\n'));
  assert.deepEqual(route(ok[0], 'enqueue'), { to: 'reply', value: { id: '9999999999999999999', duplicate: false, replaced: false } });
  // ... and the string goes back out as it came.
  assert.equal(encodeWait('9999999999999999999').toString(), 'WAIT 9999999999999999999\r\n');
});

// ---------------------------------------------------------------------------------------------
// Job error codes from a real server

test('live: LIMIT (--max-queues) is a DocketError; reading a queue never makes one', { timeout: 8000, skip: lmdbOnly }, async () => {
  const server = await startServer({ args: ['--max-queues', '1'] });
  const c = await connect({ port: server.port });
  try {
    await c.enqueue('one', 'x');
    await assert.rejects(c.enqueue('two', 'x'), isCode('LIMIT'));
    await assert.rejects(c.setQueue('three', { concurrency: 1 }), isCode('LIMIT'));
    assert.equal((await c.queue('four')).jobs.waiting, 0, 'reading does not create the queue');
    assert.equal(await c.reserve('four', { timeout: 0 }), null);
    assert.deepEqual((await c.queues()).map((q) => q.queue), ['one']);
    assert.ok(c.isConnected);
  } finally {
    await c.close();
    await server.cleanup();
  }
});

test('live: STORE_FULL refuses ENQ and routed jobs; the message is still delivered', { timeout: 9000, skip: lmdbOnly }, async () => {
  const server = await startServer({ args: ['--max-store', '1MiB'] });
  const c = await connect({ port: server.port });
  try {
    const big = Buffer.alloc(100_000, 'z');
    let refused = null;
    for (let i = 0; i < 20 && !refused; i++) refused = await c.enqueue('full', big).then(() => null, (e) => e);
    assert.ok(isCode('STORE_FULL')(refused), String(refused));
    // A routed publish with a reply subject hears about the refusal; subscribers still get it.
    await c.route('orders.*', 'full');
    const sub = c.subscribe('orders.*');
    const reply = await c.request('orders.new', big, { timeout: 2000 });
    const body = reply.json();
    assert.deepEqual(body.jobs, []);
    assert.equal(body.error.code, 'STORE_FULL');
    await assert.rejects(c.publishRouted('orders.again', big, { timeout: 2000 }), isCode('STORE_FULL'));
    const msg = await sub[Symbol.asyncIterator]().next();
    assert.equal(msg.value.data.length, big.length);
    assert.ok((await c.stats()).route_refusals >= 1);
    // Finishing jobs makes room again, once the next checkpoint (within 100 ms) has written
    // the deletes and the store measures what they freed.
    for (const job of await c.dead('full')) await c.delete(job.id);
    for (;;) {
      const j = await c.reserve('full', { timeout: 0 });
      if (!j) break;
      await c.delete(j.id);
    }
    let enqueued = null;
    for (let attempt = 0; attempt < 40 && !enqueued; attempt++) {
      enqueued = await c.enqueue('full', 'small').catch((e) => (isCode('STORE_FULL')(e) ? null : Promise.reject(e)));
      if (!enqueued) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(enqueued && enqueued.id > 0);
  } finally {
    await c.close();
    await server.cleanup();
  }
});

test('live: publishRouted() resolves with the jobs routes made, past subscribers\' answers', { timeout: 8000 }, async () => {
  const server = await startServer();
  const c = await connect({ port: server.port });
  const responder = await connect({ port: server.port });
  try {
    const welcome = await c.route('signup.*', 'welcome');
    await c.route('signup.eu', 'gdpr', { attempts: 2 });
    // A subscriber that answers on the reply subject does not confuse it.
    responder.subscribe('signup.*', { callback: (_e, m) => m?.respond('hello from a subscriber') });
    await responder.flush();
    const ids = await c.publishRouted('signup.eu', '{"user":1}', { timeout: 2000 });
    assert.equal(ids.length, 2);
    const docs = await Promise.all(ids.map((id) => c.inspect(id)));
    assert.deepEqual(docs.map((d) => d.queue).sort(), ['gdpr', 'welcome']);
    assert.equal(docs.find((d) => d.queue === 'gdpr')?.max_attempts, 2);
    // request() takes the first answer, whichever it is; the route's is JSON with jobs.
    const reply = await c.request('signup.us', 'x', { timeout: 2000 });
    assert.ok(reply.string() === 'hello from a subscriber' || Array.isArray(reply.json().jobs));
    // No route and no subscriber: no responders, no jobs.
    assert.deepEqual(await c.publishRouted('nothing.routes.here', 'x', { timeout: 2000 }), []);
    await c.unroute(welcome);
  } finally {
    await c.close();
    await responder.close();
    await server.cleanup();
  }
});

test('live: NOT_HELD, NOT_DEAD, NOT_FOUND and the codes only a raw command can draw', { timeout: 8000 }, async () => {
  const server = await startServer();
  const c = await connect({ port: server.port });
  const other = await connect({ port: server.port });
  try {
    const { id } = await c.enqueue('codes', 'x');
    await assert.rejects(c.ack(id), isCode('NOT_HELD'), 'a job nobody reserved');
    const job = await other.reserve('codes', { timeout: 0 });
    // Another connection may act for the holder only by naming the current attempt.
    await assert.rejects(c.ack(job.id, 'r'), isCode('NOT_HELD'), 'held by another connection');
    await assert.rejects(c.ack(job.id, 'r', { attempt: job.attempt + 1 }), isCode('NOT_HELD'), 'not in that attempt');
    await assert.rejects(c.touch(job.id), isCode('NOT_HELD'));
    await assert.rejects(c.progress(job.id, 10), isCode('NOT_HELD'));
    await assert.rejects(c.fail(job.id, { attempt: job.attempt + 1 }), isCode('NOT_HELD'));
    await assert.rejects(other.fail(job.id, { throttle: '1s', scope: 'group', attempt: job.attempt }), isCode('BAD_OPTION'), 'scope=group needs a group');
    await assert.rejects(c.retry(id), isCode('NOT_DEAD'));
    await assert.rejects(c.promote(id), isCode('NOT_DELAYED'), 'PROMOTE of an active job');
    await assert.rejects(c.unroute(424242), isCode('NOT_FOUND'));
    await assert.rejects(c.unschedule('no-such-schedule'), isCode('NOT_FOUND'));
    await assert.rejects(c.inspect(424242), isCode('NOT_FOUND'));
    // What the client refuses to send, the server refuses too, with its own code.
    await assert.rejects(c.command(commandBytes('ENQ bad.queue', Buffer.from('x')), 'enqueue'), isCode('BAD_QUEUE'));
    await assert.rejects(c.command(commandBytes('INSPECT abc'), 'inspect'), isCode('BAD_ID'));
    await assert.rejects(c.command(commandBytes('RESERVE codes timeout=soon'), 'reserve'), isCode('BAD_OPTION'));
    await assert.rejects(c.command(commandBytes('ENQ codes colour=blue', Buffer.from('x')), 'enqueue'), isCode('BAD_OPTION'));
    // A command line over the server's limit would close the connection: refused before sending.
    assert.throws(() => c.publish(`a.${'x'.repeat(5000)}`, 'x'), InvalidArgument);
    await assert.rejects(c.command(commandBytes(`INSPECT ${'1'.repeat(4100)}`), 'inspect'), InvalidArgument);
    // None of it closed the connection or put replies out of line.
    assert.equal((await c.inspect(id)).state, 'active');
    assert.ok(c.isConnected && c.reconnects === 0);
  } finally {
    await c.close();
    await other.close();
    await server.cleanup();
  }
});

test('live: a server at --max-connections refuses with a ServerError', { timeout: 8000 }, async () => {
  const server = await startServer({ args: ['--max-connections', '1'] });
  const first = await connect({ port: server.port });
  try {
    await assert.rejects(connect({ port: server.port, reconnect: false }), (e) => e instanceof ServerError && e.text === 'maximum connections exceeded');
    assert.ok(first.isConnected);
  } finally {
    await first.close();
    await server.cleanup();
  }
});

// ---------------------------------------------------------------------------------------------
// Permissions: nats-server's -ERR 'Permissions Violation …' (docketd's too, once it has them)

/** @param {string} dir */
function permissionsConfig(dir, extra = '') {
  const file = path.join(dir, 'perm.conf');
  writeFileSync(
    file,
    `authorization {
  users = [
    { user: alice, password: pw, permissions: { publish: { deny: ["secret.>"] }, subscribe: { deny: ["secret.>"] } } }
  ]
}
${extra}`,
  );
  return file;
}

/** @param {Client} c */
async function checkPermissionErrors(c) {
  /** @type {unknown[]} */
  const errors = [];
  c.on('error', (e) => errors.push(e));
  const denied = c.subscribe('secret.plans');
  const allowed = c.subscribe('public.news');
  const it = denied[Symbol.asyncIterator]();
  await assert.rejects(within(it.next(), 3000, 'the refused subscription to end'), (e) => {
    assert.ok(e instanceof PermissionError, String(e));
    assert.equal(e.operation, 'subscribe');
    assert.equal(e.subject, 'secret.plans');
    assert.equal(e.code, 'PERMISSIONS_VIOLATION');
    return true;
  });
  assert.equal(denied.isClosed, true);
  assert.equal(allowed.isClosed, false);
  // A callback subscription hears about it through its callback.
  const heard = new Promise((resolve) => c.subscribe('secret.cb', { callback: (err) => err && resolve(err) }));
  assert.ok((await within(heard, 3000, 'callback error')) instanceof PermissionError);
  // A refused publish: an error event; a refused request rejects at once.
  c.publish('secret.plans', 'leak');
  const started = performance.now();
  await assert.rejects(c.request('secret.ask', 'q', { timeout: 3000 }), (e) => e instanceof PermissionError && e.operation === 'publish');
  assert.ok(performance.now() - started < 2000, 'rejected by the violation, not by the timeout');
  await within(c.flush(), 2000, 'flush');
  assert.ok(errors.some((e) => e instanceof PermissionError && e.operation === 'publish' && e.subject === 'secret.plans'));
  assert.ok(c.isConnected, 'a permission violation does not close the connection');
  c.publish('public.news', 'fine');
  assert.equal((await within(allowed[Symbol.asyncIterator]().next(), 2000, 'allowed')).value.string(), 'fine');
}

test('nats-server permissions: refused subscriptions end, refused publishes and requests fail, the connection stays', { timeout: 8000, skip: natsSkipReason() }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'docket-perm-'));
  const server = await startNatsServer(['-c', permissionsConfig(dir)]);
  const c = await connect({ port: server.port, user: 'alice', pass: 'pw' });
  try {
    await checkPermissionErrors(c);
  } finally {
    await c.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('live: docketd permissions: subject permissions as nats-server, FORBIDDEN for job verbs without the right', { timeout: 8000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'docket-perm-'));
  /** @type {Awaited<ReturnType<typeof startServer>>|null} */
  let server = null;
  try {
    // alice may enqueue on and read "allowed", nothing else (a user with permissions has exactly
    // the job rights listed).
    const jobRights = 'docket {\n  permissions {\n    alice: { enqueue: ["allowed"], read: ["allowed"] }\n  }\n}\n';
    try {
      server = await startServer({ args: ['-c', permissionsConfig(dir, jobRights)] });
    } catch (err) {
      const why = String(/** @type {Error} */ (err).message).split('\n').find((l) => /permission|not supported|unknown/i.test(l)) ?? 'it refused the configuration';
      t.skip(`this docketd has no user permissions yet (${why.trim().slice(0, 160)})`);
      return;
    }
    const c = await connect({ port: server.port, user: 'alice', pass: 'pw' });
    try {
      await checkPermissionErrors(c);
      const { id } = await c.enqueue('allowed', 'x');
      assert.equal((await c.inspect(id)).queue, 'allowed');
      await assert.rejects(c.enqueue('other', 'x'), (e) => isCode('FORBIDDEN')(e) && /alice/.test(e.message) && /enqueue/.test(e.message));
      await assert.rejects(c.reserve('allowed', { timeout: 0 }), isCode('FORBIDDEN'), 'no work right');
      await assert.rejects(c.pause('allowed'), isCode('FORBIDDEN'), 'no admin right');
      await assert.rejects(c.stats(), isCode('FORBIDDEN'), 'STATS needs read on every queue');
      // Lifecycle events need the read right on their queue.
      const refused = c.events('other');
      await assert.rejects(within(refused[Symbol.asyncIterator]().next(), 3000, 'refused events'), PermissionError);
      const allowed = c.events('allowed');
      await c.flush();
      const second = await c.enqueue('allowed', 'y');
      const ev = await within(allowed[Symbol.asyncIterator]().next(), 3000, 'allowed events');
      assert.equal(ev.value.id, second.id);
      assert.ok(c.isConnected && c.reconnects === 0, 'nothing closed the connection');
    } finally {
      await c.close();
    }
  } finally {
    await server?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
