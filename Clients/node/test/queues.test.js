// Queue documents, queue settings, pause/resume, groups and throttles, routes, lifecycle events:
// against a real docketd (and the exact bytes of the new encoders).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { connect, DocketError, InvalidArgument, Throttle, Worker } from '../src/index.js';
import { encodeEnqueue, encodeFail, encodeQueueSet, encodeRoute } from '../src/protocol.js';
import { startServer, within, waitFor, quietLogger } from '../testkit/helpers.js';

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

const keys = (o) => Object.keys(o).sort();

const QUEUE_FIELDS = [
  'queue', 'paused', 'config', 'jobs', 'totals', 'rates', 'oldest_waiting_ms', 'active', 'waiting_workers',
  'rate_window_starts', 'next_start_at', 'blocked_by', 'held_until',
];
const CONFIG_FIELDS = ['rate', 'group_rate', 'concurrency', 'attempts', 'backoff', 'jitter', 'lease_ms', 'keep_completed', 'keep_dead'];
const STATE_FIELDS = ['waiting', 'delayed', 'blocked', 'active', 'completed', 'dead'];
const TOTAL_FIELDS = ['enqueued', 'started', 'completed', 'failed', 'dead', 'throttled', 'removed', 'deleted'];
const RATE_FIELDS = ['started_per_s', 'completed_per_s', 'failed_per_s', 'dead_per_s'];
const STATS_FIELDS = [
  'server_id', 'version', 'docket_version', 'uptime_ms', 'connections', 'total_connections', 'refused_connections',
  'subscriptions', 'slow_consumers', 'in_msgs', 'out_msgs', 'in_bytes', 'out_bytes', 'jobs', 'queues', 'commits',
  'commit_us_total', 'store_used_bytes', 'store_capacity_bytes', 'store_file_bytes', 'sync', 'max_payload', 'route_refusals',
  'skipped_ticks',
];

test('encoders: group, throttle, queue settings, route options', () => {
  assert.equal(encodeEnqueue('q', 'x', { group: 'acme' }).toString(), 'ENQ q group=acme 1\r\nx\r\n');
  assert.throws(() => encodeEnqueue('q', 'x', { group: 'a b' }), InvalidArgument);
  assert.equal(encodeFail(5, { attempt: 2, throttle: '30s', scope: 'group' }).toString(), 'FAIL 5 attempt=2 throttle=30s scope=group\r\n');
  assert.equal(encodeFail(5, { throttle: 1500 }).toString(), 'FAIL 5 throttle=1500ms\r\n');
  assert.throws(() => encodeFail(5, { throttle: '1s', retry: '1s' }), InvalidArgument);
  assert.throws(() => encodeFail(5, { scope: 'group' }), InvalidArgument);
  assert.equal(new Throttle(30).wire, '30s');
  assert.equal(new Throttle(0.25).wire, '250ms');
  assert.equal(new Throttle('2m', { scope: 'group' }).wire, '2m');
  assert.equal(
    encodeQueueSet('q', {
      rate: '100/1s', groupRate: { limit: 5, per: 250 }, concurrency: 4, attempts: 2, backoff: 'fixed:1s', jitter: 0.5,
      lease: 10_000, keepCompleted: 7, keepDead: null,
    }).toString(),
    'QUEUE q rate=100/1s group_rate=5/250ms concurrency=4 attempts=2 backoff=fixed:1s jitter=0.5 lease=10s keep_completed=7 keep_dead=none\r\n',
  );
  assert.throws(() => encodeQueueSet('q', {}), InvalidArgument);
  assert.throws(() => encodeQueueSet('q', { speed: 1 }), InvalidArgument);
  assert.throws(() => encodeQueueSet('q', { rate: '100' }), InvalidArgument);
  assert.equal(encodeRoute('orders.*', 'q', { attempts: 2, group: 'g' }).toString(), 'ROUTE orders.* q attempts=2 group=g\r\n');
  assert.equal(encodeRoute('orders.>', 'q').toString(), 'ROUTE orders.> q\r\n');
  assert.throws(() => encodeRoute('orders.*', 'q', /** @type {any} */ ({ key: 'k' })), InvalidArgument);
  assert.throws(() => encodeRoute('orders..x', 'q'), InvalidArgument);
});

test('queue(), queues() and stats() carry every documented field', { timeout: 10_000 }, async () => {
  await c.enqueue('docq', 'a');
  const q = await c.queue('docq');
  assert.deepEqual(keys(q), [...QUEUE_FIELDS].sort());
  assert.deepEqual(keys(q.config), [...CONFIG_FIELDS].sort());
  assert.deepEqual(keys(q.jobs), [...STATE_FIELDS].sort());
  assert.deepEqual(keys(q.totals), [...TOTAL_FIELDS].sort());
  assert.deepEqual(keys(q.rates), [...RATE_FIELDS].sort());
  assert.equal(q.queue, 'docq');
  assert.equal(q.paused, false);
  assert.equal(q.jobs.waiting, 1);
  assert.equal(q.totals.enqueued, 1);
  assert.equal(q.config.attempts, 3);
  assert.equal(q.blocked_by, null);

  const all = await c.queues();
  assert.ok(Array.isArray(all));
  assert.deepEqual(all.map((d) => d.queue), [...all.map((d) => d.queue)].sort());
  assert.ok(all.some((d) => d.queue === 'docq'));

  const stats = await c.stats();
  for (const f of STATS_FIELDS) assert.ok(f in stats, `STATS has ${f}`);
  assert.equal(typeof stats.uptime_ms, 'number');
  assert.ok(stats.queues >= 1);

  // reading an unknown queue does not create it
  const none = await c.queue('never-made');
  assert.equal(none.totals.enqueued, 0);
  assert.ok(!(await c.queues()).some((d) => d.queue === 'never-made'));
  await assert.rejects(c.queue('bad name'), InvalidArgument);
});

test('queues() answers one page: after the last name, at most limit', { timeout: 10_000 }, async () => {
  for (const name of ['page-a', 'page-b', 'page-c']) await c.setQueue(name, { attempts: 4 });
  const names = async (opts) => (await c.queues(opts)).map((d) => d.queue).filter((n) => n.startsWith('page-'));
  assert.deepEqual(await names({ after: 'page-', limit: 2 }), ['page-a', 'page-b']);
  assert.deepEqual(await names({ after: 'page-b' }), ['page-c']);
  assert.deepEqual(await c.queues({ after: 'page-c', limit: 1000 }).then((p) => p.filter((d) => d.queue.startsWith('page-'))), []);
  await assert.rejects(c.queues({ limit: 0 }), InvalidArgument);
});

test('setQueue() changes settings, null returns one to its default', { timeout: 10_000 }, async () => {
  await c.setQueue('setq', {
    rate: '10/1s', groupRate: '2/s', concurrency: 3, attempts: 4, backoff: 'fixed:1s', jitter: 0.5, lease: '10s',
    keepCompleted: 5, keepDead: 6,
  });
  let q = await c.queue('setq');
  assert.deepEqual(q.config, {
    rate: '10/1000ms', group_rate: '2/1000ms', concurrency: 3, attempts: 4, backoff: 'fixed:1000ms', jitter: 0.5,
    lease_ms: 10_000, keep_completed: 5, keep_dead: 6,
  });
  await c.setQueue('setq', { rate: null, concurrency: null, attempts: null, lease: null, keepDead: null });
  q = await c.queue('setq');
  assert.equal(q.config.rate, null);
  assert.equal(q.config.concurrency, null);
  assert.equal(q.config.attempts, 3);
  assert.equal(q.config.lease_ms, 30_000);
  assert.equal(q.config.keep_dead, 10_000);
  assert.equal(q.config.group_rate, '2/1000ms'); // left out: kept
  await assert.rejects(c.setQueue('setq', { attempts: 0 }), InvalidArgument);
});

test('pause() holds a queue, resume() starts it again', { timeout: 10_000 }, async () => {
  const { id } = await c.enqueue('pq', 'x');
  await c.pause('pq');
  let q = await c.queue('pq');
  assert.equal(q.paused, true);
  assert.equal(q.blocked_by, 'paused');
  assert.equal(await c.reserve('pq', { timeout: 0 }), null);
  await c.resume('pq');
  q = await c.queue('pq');
  assert.equal(q.paused, false);
  const job = await c.reserve('pq', { timeout: 1000 });
  assert.equal(job?.id, id);
  await c.ack(job.id);
});

test('group on enqueue, and a worker Throttle with scope group holds only that group', { timeout: 15_000 }, async () => {
  const a = await c.enqueue('thr', 'a', { group: 'g1' });
  const b = await c.enqueue('thr', 'b', { group: 'g2' });
  assert.equal((await c.inspect(a.id)).group, 'g1');
  const logger = quietLogger();
  const done = new Set();
  const worker = new Worker({
    port: server.port,
    queues: 'thr',
    reserveTimeoutMs: 100,
    handleSignals: false,
    logger,
    handler: async (job) => {
      if (job.text() === 'a') throw new Throttle(30, { scope: 'group' });
      done.add(job.id);
      return 'ok';
    },
  });
  /** @type {any[]} */
  const failed = [];
  worker.on('failed', (_job, err, outcome) => failed.push([err, outcome]));
  await worker.start();
  try {
    await waitFor(() => done.has(b.id) && failed.length === 1, 5000, 'g2 done and g1 throttled');
  } finally {
    await within(worker.stop({ graceMs: 0 }), 5000, 'worker stop');
  }
  assert.ok(failed[0][0] instanceof Throttle);
  assert.equal(failed[0][1].outcome, 'throttled');
  assert.equal(failed[0][1].delayMs, 30_000);
  assert.ok(logger.lines.some((l) => l.includes('next=throttled throttled_ms=30000')), logger.lines.join('\n'));
  const doc = await c.inspect(a.id);
  assert.equal(doc.state, 'waiting');
  assert.equal(doc.attempts, 0); // a throttle uses up no attempt
  const q = await c.queue('thr');
  assert.equal(q.totals.throttled, 1);
  assert.equal(q.totals.completed, 1);
  // held for its group only: a g1 job does not start, a new g2 one does
  assert.equal(await c.reserve('thr', { timeout: 0 }), null);
  const g2 = await c.enqueue('thr', 'c', { group: 'g2' });
  const next = await c.reserve('thr', { timeout: 1000 });
  assert.equal(next?.id, g2.id);
  await c.ack(next.id);
});

test('fail() with throttle answers {outcome: "throttled"}', { timeout: 10_000 }, async () => {
  const { id } = await c.enqueue('thr2', 'x');
  const job = await c.reserve('thr2', { timeout: 1000 });
  assert.equal(job?.id, id);
  assert.deepEqual(await c.fail(id, { throttle: 200, attempt: job.attempt }), { outcome: 'throttled', delayMs: 200 });
  const q = await c.queue('thr2');
  assert.equal(q.blocked_by, 'throttle');
  assert.equal(typeof q.held_until, 'number');
});

test('route(), routes(), unroute(): messages become jobs', { timeout: 10_000 }, async () => {
  const rid = await c.route('orders.*', 'routed', { attempts: 2, group: 'shop' });
  assert.equal(typeof rid, 'number');
  const list = await c.routes();
  const mine = list.find((r) => r.id === rid);
  assert.deepEqual(keys(mine), ['id', 'pattern', 'queue', 'rule']);
  assert.equal(mine.pattern, 'orders.*');
  assert.equal(mine.queue, 'routed');
  c.publish('orders.new', 'order 1');
  await c.flush();
  const job = await c.reserve('routed', { timeout: 2000 });
  assert.ok(job);
  assert.equal(job.payload.toString(), 'order 1');
  const doc = await c.inspect(job.id);
  assert.equal(doc.max_attempts, 2);
  assert.equal(doc.group, 'shop');
  await c.ack(job.id);
  await c.unroute(rid);
  assert.ok(!(await c.routes()).some((r) => r.id === rid));
  await assert.rejects(c.unroute(rid), (e) => e instanceof DocketError && e.code === 'NOT_FOUND');
  await assert.rejects(c.route('$JOB.x', 'routed'), InvalidArgument); // reserved subjects: refused before sending
  await assert.rejects(c.command(Buffer.from('ROUTE $JOB.x routed\r\n'), 'route'), (e) => e instanceof DocketError && e.code === 'BAD_OPTION');
});

test('events() yields typed lifecycle events of a queue', { timeout: 10_000 }, async () => {
  const events = c.events('evq');
  const other = c.events('evq', { events: ['completed'] });
  await c.flush();
  await c.enqueue('elsewhere', 'not this queue');
  const { id } = await c.enqueue('evq', 'x', { group: 'g' });
  const job = await c.reserve('evq', { timeout: 1000 });
  assert.equal(job?.id, id);
  await c.progress(id, 50, 'half', { attempt: job.attempt });
  await c.ack(id, 'done', { attempt: job.attempt });

  const seen = [];
  await within(
    (async () => {
      for await (const ev of events) {
        seen.push(ev);
        if (ev.event === 'completed') break; // leaving the loop unsubscribes
      }
    })(),
    5000,
    'four events',
  );
  assert.deepEqual(seen.map((e) => e.event), ['enqueued', 'started', 'progress', 'completed']);
  for (let i = 1; i < seen.length; i++) assert.equal(seen[i].seq, seen[i - 1].seq + 1);
  for (const e of seen) {
    assert.equal(e.id, id);
    assert.equal(e.queue, 'evq');
    assert.equal(e.group, 'g');
    assert.equal(e.subject, `$JOB.evq.${e.event}`);
    assert.equal(typeof e.at, 'number');
    assert.equal(e.max_attempts, 3);
  }
  assert.equal(seen[1].state, 'active');
  assert.equal(typeof seen[1].wait_ms, 'number');
  assert.equal(seen[2].progress, 50);
  assert.equal(seen[2].note, 'half');
  assert.equal(seen[3].state, 'completed');
  assert.equal(seen[3].result_bytes, 4);
  assert.equal(typeof seen[3].run_ms, 'number');
  await within(events.closed, 1000, 'the events subscription to end');

  const it = other[Symbol.asyncIterator]();
  const only = await within(it.next(), 2000, 'the completed event');
  assert.equal(only.value.event, 'completed');
  other.close();
  assert.equal((await within(it.next(), 1000, 'the end')).done, true);
});

test('routes() follows the pages, by id; routesPage() answers one', { timeout: 10_000 }, async () => {
  const small = await startServer({ args: ['--max-payload', '2048'] });
  try {
    const client = await connect({ port: small.port });
    try {
      const ids = [];
      for (let n = 0; n < 12; n++) ids.push(await client.route(`orders.${'x'.repeat(300)}.${n}`, 'orders'));
      const first = await client.routesPage();
      assert.ok(first.length > 0 && first.length < ids.length, `12 routes of 300-byte patterns in one page of 2,048 bytes: ${first.length}`);
      assert.deepEqual((await client.routes()).map((r) => r.id), ids);
      assert.deepEqual((await client.routesPage({ after: ids[0], limit: 2 })).map((r) => r.id), ids.slice(1, 3));
      assert.deepEqual(await client.routesPage({ after: ids[ids.length - 1] }), []);
    } finally {
      await client.close();
    }
  } finally {
    await small.cleanup();
  }
});
