// Job dependencies and batches: ENQ after= / on_parent_dead=, BATCH, PARENTS, the blocked state and
// the blocked/unblocked events. The encoders and reply decoders first (no server), then a scripted
// fake server for replies a real one does not give, then flows against a real docketd.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { connect, BadOption, DocketError, InvalidArgument, LimitReached, NotFound, ProtocolError, Worker } from '../src/index.js';
import { MAX_PARENTS, Parser, encodeBatch, encodeEnqueue, encodeList, encodeParents, encodePurge, encodeRoute, encodeSchedule, parseJson, route } from '../src/protocol.js';
import { startServer, within, quietLogger, nextMsg } from '../testkit/helpers.js';
import { fakeServer } from '../testkit/fake-server.js';

const text = (/** @type {Buffer} */ b) => b.toString('latin1');

// ---------------------------------------------------------------------------------------------
// Encoders and decoders

test('enqueue: after= and on_parent_dead= after expires, before key_ttl= and replace=', () => {
  assert.equal(text(encodeEnqueue('report', 'x', { ttl: 30_000, after: [7, 9], onParentDead: 'run' })), 'ENQ report ttl=30s after=7,9 on_parent_dead=run 1\r\nx\r\n');
  assert.equal(
    text(encodeEnqueue('q', '', { key: 'k', after: ['9999999999999999999', 12n], onParentDead: 'fail', keyTtl: '1h', replace: true })),
    'ENQ q key=k after=9999999999999999999,12 on_parent_dead=fail key_ttl=1h replace=true 0\r\n\r\n',
  );
  assert.equal(text(encodeEnqueue('q', '', { after: 5 })), 'ENQ q after=5 0\r\n\r\n', 'a lone parent needs no array');
  assert.equal(text(encodeEnqueue('q', '', { key: 'k', replace: false })), 'ENQ q key=k 0\r\n\r\n');
  assert.equal(text(encodeEnqueue('q', '', { key: 'k', keyTtl: 90_000 })), 'ENQ q key=k key_ttl=90s 0\r\n\r\n');
  const parents = Array.from({ length: MAX_PARENTS }, (_, i) => i + 1);
  assert.match(text(encodeEnqueue('q', '', { after: parents })), /^ENQ q after=1,2,3,.*,100 0\r\n/);
});

test('enqueue: bad parents are refused before anything is sent', () => {
  /** @type {[string, Record<string, unknown>][]} */
  const bad = [
    ['no parents', { after: [] }],
    ['more than 100', { after: Array.from({ length: MAX_PARENTS + 1 }, (_, i) => i + 1) }],
    ['a zero id', { after: [0] }],
    ['a negative id', { after: [-3] }],
    ['a fraction', { after: [1.5] }],
    ['an unsafe number', { after: [2 ** 60] }],
    ['20 digits', { after: ['10000000000000000000'] }],
    ['not an id', { after: ['abc'] }],
    ['twice', { after: [3, 3] }],
    ['twice, spelled differently', { after: [3, '003'] }],
    ['a batch reference outside a batch', { after: ['#1'] }],
    ['an unknown policy', { after: [3], onParentDead: 'maybe' }],
    ['key_ttl without key', { keyTtl: 30_000 }],
    ['a zero key_ttl', { key: 'k', keyTtl: 0 }],
    ['replace without key', { replace: true }],
    ['replace not a boolean', { key: 'k', replace: 'yes' }],
  ];
  for (const [what, opts] of bad) assert.throws(() => encodeEnqueue('q', 'x', /** @type {any} */ (opts)), InvalidArgument, what);
  // Routes and schedules make a new job each time: it cannot wait for others.
  assert.throws(() => encodeRoute('orders.*', 'q', /** @type {any} */ ({ after: [3] })), InvalidArgument);
  assert.throws(() => encodeRoute('orders.*', 'q', /** @type {any} */ ({ onParentDead: 'run' })), InvalidArgument);
  assert.throws(() => encodeSchedule('s', 'q', '', /** @type {any} */ ({ every: '1m', after: [3] })), InvalidArgument);
});

test('batch: BATCH <n> then each ENQ; #<n> names an earlier job; one bad job refuses the whole call', () => {
  assert.equal(
    text(
      encodeBatch([
        { queue: 'resize', payload: 'img-001' },
        { queue: 'resize', payload: 'img-002', priority: 1 },
        { queue: 'report', after: ['#1', '#2', 7] },
      ]),
    ),
    'BATCH 3\r\nENQ resize 7\r\nimg-001\r\nENQ resize pri=1 7\r\nimg-002\r\nENQ report after=#1,#2,7 0\r\n\r\n',
  );
  assert.equal(text(encodeBatch([{ queue: 'q', payload: { n: 1 }, key: 'k' }])), 'BATCH 1\r\nENQ q key=k 7\r\n{"n":1}\r\n');
  assert.throws(() => encodeBatch([]), InvalidArgument);
  assert.throws(() => encodeBatch(/** @type {any} */ ('jobs')), InvalidArgument);
  /** @param {any[]} jobs @param {RegExp} message */
  const refused = (jobs, message) => assert.throws(() => encodeBatch(jobs), (e) => e instanceof InvalidArgument && message.test(e.message));
  refused([{ queue: 'a', after: ['#1'] }], /^batch job 1: .*#1/);
  refused([{ queue: 'a' }, { queue: 'b', after: ['#2'] }], /^batch job 2: .*earlier/);
  refused([{ queue: 'a' }, { queue: 'b', after: ['#1', '#1'] }], /^batch job 2: after names #1 twice/);
  refused([{ queue: 'a' }, { queue: 'bad.queue' }], /^batch job 2: queue names/);
  refused([{ queue: 'a' }, null], /^batch job 2: /);
  refused([{ queue: 'a', delay: 5, at: 9 }], /^batch job 1: delay and at/);
  // The server's limits, when the client knows them.
  assert.throws(() => encodeBatch([{ queue: 'a', payload: 'x' }, { queue: 'a', payload: 'toolong' }], { maxPayload: 4 }), /batch job 2: payload of 7 bytes/);
  assert.throws(() => encodeBatch([{ queue: 'a' }, { queue: 'a', key: 'k'.repeat(200) }], { maxControlLine: 100 }), /batch job 2: its ENQ line is over the limit of 100/);
});

test('PARENTS, and the blocked state in LIST and PURGE', () => {
  assert.equal(text(encodeParents(42)), 'PARENTS 42\r\n');
  assert.equal(text(encodeParents('9999999999999999999')), 'PARENTS 9999999999999999999\r\n');
  assert.throws(() => encodeParents(0), InvalidArgument);
  assert.equal(text(encodeList('report', { state: 'blocked' })), 'LIST report state=blocked\r\n');
  assert.equal(text(encodePurge('report', { state: 'blocked' })), 'PURGE report state=blocked\r\n');
});

/** @param {string} bytes @param {string} call */
function reply(bytes, call) {
  /** @type {any[]} */
  const frames = [];
  new Parser((f) => frames.push(f)).push(Buffer.from(bytes, 'latin1'));
  return route(frames[0], call);
}

test('replies: the batch ids (exact above 2^53), PARENTS\' array, a replaced ENQ', () => {
  assert.deepEqual(reply('+OK 41 42 43\r\n', 'batch'), { to: 'reply', value: [41, 42, 43] });
  assert.deepEqual(reply('+OK 7 9999999999999999999\r\n', 'batch'), { to: 'reply', value: [7, '9999999999999999999'] });
  for (const bad of ['+OK\r\n', '+OK 4 x\r\n', '+OK 0\r\n', 'JSON 2\r\n[]\r\n']) assert.throws(() => reply(bad, 'batch'), ProtocolError, bad);
  const err = reply("-ERR 'NOT_FOUND job 2: parent job 999 not found'\r\n", 'batch');
  assert.ok(err.error instanceof NotFound);
  assert.equal(err.error.serverMessage, 'job 2: parent job 999 not found');
  const json = '[{"id":1,"queue":"fetch","state":"completed","result":"ok","error":null},{"id":9999999999999999999,"state":"deleted"}]';
  assert.deepEqual(reply(`JSON ${json.length}\r\n${json}\r\n`, 'parents').value, [
    { id: 1, queue: 'fetch', state: 'completed', result: 'ok', error: null },
    { id: '9999999999999999999', state: 'deleted' },
  ]);
  assert.throws(() => reply('JSON 2\r\n{}\r\n', 'parents'), ProtocolError);
  assert.deepEqual(reply('+OK 17 replaced\r\n', 'enqueue').value, { id: 17, duplicate: false, replaced: true });
  assert.throws(() => reply('+OK 17 swapped\r\n', 'enqueue'), ProtocolError);
});

test('documents: integers above 2^53 are exact decimal strings; everything else as JSON.parse reads it', () => {
  const doc = '{"id":12345678901234567890,"n":-9007199254740993,"ids":[1,9007199254740993],"rate":0.016666666666666666,"e":1e300,"s":"12345678901234567890 \\" 99999999999999999999","ok":9007199254740991}';
  assert.deepEqual(parseJson(doc), {
    id: '12345678901234567890',
    n: '-9007199254740993',
    ids: [1, '9007199254740993'],
    rate: 0.016666666666666666,
    e: 1e300,
    s: '12345678901234567890 " 99999999999999999999',
    ok: 9007199254740991,
  });
  assert.deepEqual(parseJson('{"a":[1,2,{"b":null}]}'), { a: [1, 2, { b: null }] });
  assert.throws(() => parseJson('{"id":12345678901234567890'), SyntaxError);
});

test('fake server: a batch goes out as BATCH and its ENQs; an answer with the wrong number of ids is a protocol error', { timeout: 10_000 }, async () => {
  /** @type {string[]} */
  const lines = [];
  const fake = await fakeServer((line, socket) => {
    lines.push(line);
    if (line === 'b') socket.write('+OK 5\r\n'); // two jobs, one id
    if (line === 'PARENTS 5') socket.write('JSON 2\r\n[]\r\n');
  });
  const c = await connect({ port: fake.port, reconnect: false });
  try {
    await assert.rejects(within(c.batch([{ queue: 'q', payload: 'a' }, { queue: 'q', payload: 'b', after: ['#1'] }]), 3000, 'batch'), ProtocolError);
    assert.deepEqual(lines.slice(0, 5), ['BATCH 2', 'ENQ q 1', 'a', 'ENQ q after=#1 1', 'b']);
  } finally {
    await c.close();
    await fake.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Against a real docketd

/** @type {import('../testkit/helpers.js').Server} */
let server;
/** @type {import('../src/index.js').Client} */
let c;
before(async () => {
  server = await startServer();
  c = await connect({ port: server.port });
});
after(async () => {
  await c?.close();
  await server?.cleanup();
});

/** A worker on `queues` that runs `handler`, quietly. @param {string|string[]} queues @param {(job: import('../src/index.js').JobContext) => unknown} handler */
function worker(queues, handler) {
  return new Worker({ port: server.port, queues, handler, reserveTimeoutMs: 100, handleSignals: false, logger: quietLogger() });
}

test('live: a flow as one batch: two children, then a collector that reads their results', { timeout: 15_000 }, async () => {
  const events = c.events('flow-report');
  await c.flush();
  const ids = await c.batch([
    { queue: 'flow-resize', payload: { image: 'img-001' } },
    { queue: 'flow-resize', payload: { image: 'img-002' } },
    { queue: 'flow-report', payload: 'summary', after: ['#1', '#2'] },
  ]);
  assert.equal(ids.length, 3);
  const [first, second, collector] = ids;
  assert.ok(first < second && second < collector, `ids in order: ${ids}`);

  // The collector waits for its parents.
  const doc = await c.inspect(collector);
  assert.equal(doc.state, 'blocked');
  assert.deepEqual(doc.parents, [first, second]);
  assert.equal(doc.on_parent_dead, 'fail');
  assert.deepEqual((await c.inspect(first)).children, [collector]);
  assert.deepEqual((await c.list('flow-report', { state: 'blocked' })).jobs.map((j) => j.id), [collector]);
  assert.equal((await c.queue('flow-report')).jobs.blocked, 1);
  assert.equal(await c.reserve('flow-report', { timeout: 0 }), null, 'a blocked job is not handed out');
  const pending = await c.wait(collector, { timeout: 0 });
  assert.equal(pending.pending, true);
  assert.equal(pending.state, 'blocked');
  assert.deepEqual(
    (await c.parents(collector)).map((p) => p.state),
    ['waiting', 'waiting'],
  );

  const it = events[Symbol.asyncIterator]();
  const enqueued = await within(it.next(), 3000, 'enqueued event');
  assert.equal(enqueued.value?.event, 'enqueued');
  const blocked = await within(it.next(), 3000, 'blocked event');
  assert.equal(blocked.value?.event, 'blocked');
  assert.equal(blocked.value?.id, collector);
  assert.deepEqual(blocked.value?.event === 'blocked' && blocked.value.parents, [first, second]);

  // Workers complete the children; then the collector is available and reads their results.
  const resize = worker('flow-resize', (job) => ({ resized: job.json().image }));
  /** @type {unknown} */
  let gathered = null;
  const report = worker('flow-report', async (job) => {
    const parents = await job.parents();
    gathered = parents;
    return parents.map((p) => (p.state === 'completed' ? JSON.parse(p.result ?? 'null').resized : p.state));
  });
  await report.start();
  await resize.start();
  try {
    const outcome = await within(c.wait(collector, { timeout: '10s' }), 12_000, 'the collector');
    assert.equal(outcome.state, 'completed');
    assert.deepEqual(JSON.parse(String(outcome.result)), ['img-001', 'img-002']);
  } finally {
    await Promise.all([resize.stop(), report.stop()]);
  }
  assert.deepEqual(gathered, [
    { id: first, queue: 'flow-resize', state: 'completed', result: '{"resized":"img-001"}', error: null },
    { id: second, queue: 'flow-resize', state: 'completed', result: '{"resized":"img-002"}', error: null },
  ]);
  const unblocked = await within(it.next(), 3000, 'unblocked event');
  assert.equal(unblocked.value?.event, 'unblocked');
  assert.equal(unblocked.value?.id, collector);
  assert.equal(unblocked.value?.state, 'waiting');
  events.close();
});

test('live: a dying parent kills a child under onParentDead fail, and lets one under run go', { timeout: 15_000 }, async () => {
  const parent = await c.enqueue('deps-parent', 'will fail', { attempts: 1 });
  const dies = await c.enqueue('deps-child', 'fail', { after: [parent.id] });
  const runs = await c.enqueue('deps-child', 'run', { after: [parent.id], onParentDead: 'run' });
  const grandchild = await c.enqueue('deps-child', 'grandchild', { after: [dies.id] });
  assert.equal((await c.inspect(runs.id)).on_parent_dead, 'run');

  const job = await c.reserve('deps-parent', { timeout: 0 });
  assert.equal(job?.id, parent.id);
  assert.deepEqual(await c.fail(parent.id, { reason: 'boom', attempt: job?.attempt }), { outcome: 'dead' });

  const died = await c.wait(dies.id, { timeout: '5s' });
  assert.equal(died.state, 'dead');
  assert.equal(died.error, `parent ${parent.id} dead`);
  assert.equal((await c.inspect(dies.id)).attempts, 0, 'it never ran');
  const grand = await c.wait(grandchild.id, { timeout: '5s' });
  assert.equal(grand.state, 'dead', 'its own children follow');
  assert.equal(grand.error, `parent ${dies.id} dead`);

  // The other one runs, and sees why.
  const next = await c.reserve('deps-child', { timeout: '2s' });
  assert.equal(next?.id, runs.id);
  assert.deepEqual(await c.parents(runs.id), [{ id: parent.id, queue: 'deps-parent', state: 'dead', result: null, error: 'boom' }]);
  await c.ack(runs.id, 'ran anyway', { attempt: next?.attempt });
  assert.equal((await c.wait(runs.id)).state, 'completed');
  assert.equal(await c.reserve('deps-child', { timeout: 0 }), null);
});

test('live: a deleted parent counts as dead; PARENTS says deleted; blocked jobs can be purged', { timeout: 10_000 }, async () => {
  const parent = await c.enqueue('deps-del', 'p');
  const child = await c.enqueue('deps-del-child', 'c', { after: [parent.id], onParentDead: 'run' });
  const other = await c.enqueue('deps-del-child', 'c2', { after: [parent.id] });
  await c.delete(parent.id);
  assert.deepEqual(await c.parents(child.id), [{ id: parent.id, state: 'deleted' }]);
  assert.equal((await c.inspect(child.id)).state, 'waiting');
  assert.equal((await c.inspect(other.id)).last_error, `parent ${parent.id} deleted`);

  const p2 = await c.enqueue('deps-del', 'p2');
  const blocked = await Promise.all([1, 2].map((n) => c.enqueue('deps-purge', n, { after: [p2.id] })));
  assert.equal((await c.list('deps-purge', { state: 'blocked' })).jobs.length, 2);
  assert.equal(await c.purge('deps-purge', { state: 'blocked' }), 2);
  for (const b of blocked) await assert.rejects(c.inspect(b.id), NotFound);
});

test('live: a refused batch leaves nothing enqueued', { timeout: 10_000 }, async () => {
  const before = await c.stats();
  // The server refuses it: job 3 names a parent it does not know.
  await assert.rejects(
    c.batch([
      { queue: 'refused-a', payload: 'x', key: 'refused-key' },
      { queue: 'refused-b', payload: 'y', after: ['#1'] },
      { queue: 'refused-b', payload: 'z', after: ['#2', 987654321] },
    ]),
    (e) => e instanceof NotFound && e instanceof DocketError && /^job 3: /.test(e.serverMessage),
  );
  // The client refuses these before sending anything: a bad queue name, a forward reference.
  await assert.rejects(c.batch([{ queue: 'refused-a' }, { queue: 'refused-a' }, { queue: 'no spaces' }]), /batch job 3: queue names/);
  await assert.rejects(c.batch([{ queue: 'refused-a' }, { queue: 'refused-a', after: ['#2'] }]), InvalidArgument);
  await assert.rejects(c.batch([]), InvalidArgument);

  const queues = (await c.queues()).map((q) => q.queue);
  assert.ok(!queues.includes('refused-a') && !queues.includes('refused-b'), `no queue was made: ${queues}`);
  assert.equal((await c.queue('refused-a')).totals.enqueued, 0);
  assert.equal((await c.stats()).jobs, before.jobs, 'no job was made');
  // The key was not taken: the same job enqueues fresh.
  assert.equal((await c.enqueue('refused-a', 'x', { key: 'refused-key' })).duplicate, false);
  assert.ok(c.isConnected && c.reconnects === 0);
});

test('live: --max-batch refuses a batch with LIMIT, and the connection goes on', { timeout: 10_000 }, async () => {
  const small = await startServer({ args: ['--max-batch', '2'] });
  const k = await connect({ port: small.port });
  try {
    await assert.rejects(k.batch([{ queue: 'lim' }, { queue: 'lim' }, { queue: 'lim' }]), LimitReached);
    assert.deepEqual((await k.batch([{ queue: 'lim', payload: 'a' }, { queue: 'lim', payload: 'b', after: ['#1'] }])).length, 2);
    assert.equal((await k.queue('lim')).jobs.waiting, 1);
    assert.equal((await k.queue('lim')).jobs.blocked, 1);
  } finally {
    await k.close();
    await small.cleanup();
  }
});

test('live: parents() of a job without parents is []; of an unknown job NotFound', { timeout: 8000 }, async () => {
  const { id } = await c.enqueue('lonely', 'x');
  assert.deepEqual(await c.parents(id), []);
  const doc = await c.inspect(id);
  assert.equal(doc.parents, undefined);
  assert.equal(doc.children, undefined);
  await assert.rejects(c.parents(987654321), NotFound);
  // What the client refuses, the server refuses too.
  await assert.rejects(c.command(Buffer.from('ENQ lonely after=1,1 1\r\nx\r\n'), 'enqueue'), BadOption);
  await assert.rejects(c.command(Buffer.from('ENQ lonely after=#1 1\r\nx\r\n'), 'enqueue'), BadOption);
});

test('live: a parent already completed counts as done; a batch job may name known jobs and earlier ones together', { timeout: 10_000 }, async () => {
  const done = await c.enqueue('deps-done', 'p');
  const j = await c.reserve('deps-done', { timeout: 0 });
  await c.ack(done.id, 'r', { attempt: j?.attempt });
  const child = await c.enqueue('deps-done', 'c', { after: [done.id] });
  assert.equal((await c.inspect(child.id)).state, 'waiting', 'never blocked');
  const sub = c.subscribe('$JOB.deps-mixed.>');
  await c.flush();
  const [a, b] = await c.batch([
    { queue: 'deps-mixed', payload: 'a' },
    { queue: 'deps-mixed', payload: 'b', after: [done.id, '#1'] },
  ]);
  assert.deepEqual((await c.inspect(b)).parents, [done.id, a]);
  const seen = [];
  for (let i = 0; i < 3; i++) {
    const ev = (await nextMsg(sub)).json();
    seen.push(`${ev.event} ${ev.id}`);
  }
  assert.deepEqual(seen, [`enqueued ${a}`, `enqueued ${b}`, `blocked ${b}`]);
  sub.unsubscribe();
});
