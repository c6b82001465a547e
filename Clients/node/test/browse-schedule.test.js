// Browsing and bulk repair (LIST, PURGE, PROMOTE), schedules (SCHEDULE, UNSCHEDULE, SCHEDULES,
// PAUSE/RESUME schedule=) and job expiry (ENQ ttl=, expires=) against a real docketd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { connect, InvalidArgument, NotDelayed, NotFound } from '../src/index.js';
import { startServer, within, sleep, waitFor } from '../testkit/helpers.js';

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

/**
 * The next event of a JobEvents iterator, within `ms`.
 * @param {import('../src/index.js').JobEvents} events @param {number} [ms]
 */
async function nextEvent(events, ms = 3000) {
  const r = await within(events[Symbol.asyncIterator]().next(), ms, 'a lifecycle event');
  assert.ok(!r.done, 'the events ended');
  return r.value;
}

// ---------------------------------------------------------------------------------------------
// LIST

test('LIST pages through waiting jobs with cursors, in the order RESERVE takes them', { timeout: 8000 }, async () => {
  // Every third job has a lower priority value: it runs first.
  const ids = [];
  for (let i = 0; i < 25; i++) ids.push((await c.enqueue('browse', `job ${i}`, { priority: i % 3 === 0 ? -1 : 0 })).id);
  const expected = [...ids.filter((_, i) => i % 3 === 0), ...ids.filter((_, i) => i % 3 !== 0)];

  const first = await c.list('browse', { limit: 10 });
  assert.equal(first.queue, 'browse');
  assert.equal(first.state, 'waiting');
  assert.equal(first.jobs.length, 10);
  assert.equal(typeof first.next, 'string');
  // A job that becomes runnable ahead of the cursor meanwhile is not shown by the later pages.
  const jumped = await c.enqueue('browse', 'ahead of everything', { priority: -5 });
  const second = await c.list('browse', { limit: 10, after: first.next });
  assert.equal(second.jobs.length, 10);
  assert.equal(typeof second.next, 'string');
  const third = await c.list('browse', { limit: 10, after: second.next });
  assert.equal(third.jobs.length, 5);
  assert.equal(third.next, null, 'the last page has no cursor');
  const listed = [...first.jobs, ...second.jobs, ...third.jobs];
  assert.deepEqual(listed.map((j) => j.id), expected);
  for (const j of listed) {
    assert.equal(j.queue, 'browse');
    assert.equal(j.state, 'waiting');
    assert.equal(j.expires_at, null);
  }

  // listAll follows the cursors; the default state is waiting.
  const all = [];
  for await (const job of c.listAll('browse', { pageSize: 10 })) all.push(job.id);
  assert.deepEqual(all, [jumped.id, ...expected]);

  // RESERVE hands them out in the order LIST showed.
  const reserved = [];
  for (let i = 0; i < 26; i++) reserved.push((await c.reserve('browse', { timeout: 0 }))?.id);
  assert.deepEqual(reserved, [jumped.id, ...expected]);
  const active = await c.list('browse', { state: 'active', limit: 1000 });
  assert.equal(active.jobs.length, 26);
  assert.equal(active.next, null);
  await Promise.all(reserved.map((id) => c.delete(/** @type {number} */ (id))));
  assert.deepEqual((await c.list('browse')).jobs, []);
});

test('LIST of delayed, completed and dead jobs; listAll over them', { timeout: 8000 }, async () => {
  const later = await c.enqueue('finished', 'later', { delay: '1h' });
  const ids = [];
  for (let i = 0; i < 4; i++) ids.push((await c.enqueue('finished', `job ${i}`, { attempts: 1 })).id);
  for (let i = 0; i < 4; i++) {
    const job = await c.reserve('finished', { timeout: 0 });
    assert.ok(job);
    if (i < 3) await c.ack(job.id, `done ${i}`, { attempt: job.attempt });
    else await c.fail(job.id, { reason: 'boom', retry: false, attempt: job.attempt });
  }

  const delayed = await c.list('finished', { state: 'delayed' });
  assert.deepEqual(delayed.jobs.map((j) => j.id), [later.id]);
  assert.equal(delayed.jobs[0].state, 'delayed');

  // Completed and dead jobs: newest first.
  const completed = await c.list('finished', { state: 'completed', limit: 2 });
  assert.equal(completed.state, 'completed');
  assert.deepEqual(completed.jobs.map((j) => j.id), [ids[2], ids[1]]);
  assert.deepEqual(completed.jobs.map((j) => j.result), ['done 2', 'done 1']);
  assert.ok(completed.next);
  const rest = await c.list('finished', { state: 'completed', limit: 2, after: completed.next });
  assert.deepEqual(rest.jobs.map((j) => j.id), [ids[0]]);
  assert.equal(rest.next, null);

  const dead = await c.list('finished', { state: 'dead' });
  assert.deepEqual(dead.jobs.map((j) => [j.id, j.state, j.last_error]), [[ids[3], 'dead', 'boom']]);
  assert.equal(dead.next, null);

  const all = [];
  for await (const job of c.listAll('finished', { state: 'completed', pageSize: 1 })) all.push(job.id);
  assert.deepEqual(all, [ids[2], ids[1], ids[0]]);

  // Refused before anything is sent; the connection is not disturbed.
  await assert.rejects(c.list('finished', { state: /** @type {any} */ ('running') }), InvalidArgument);
  await assert.rejects(c.list('finished', { limit: 0 }), InvalidArgument);
  await assert.rejects(c.list('finished', { after: '1 2' }), InvalidArgument);
  assert.throws(() => c.listAll('finished', { pageSize: 1001 }), InvalidArgument);
  assert.deepEqual((await c.list('nobody-here')).jobs, []);
});

// ---------------------------------------------------------------------------------------------
// PURGE and PROMOTE

test('PURGE deletes the jobs of one state, with older= only the older ones', { timeout: 8000 }, async () => {
  const old = await c.enqueue('purge', 'old');
  await sleep(400);
  const young = [];
  for (let i = 0; i < 3; i++) young.push((await c.enqueue('purge', `young ${i}`)).id);
  for (let i = 0; i < 2; i++) {
    const { id } = await c.enqueue('purge-done', `x${i}`);
    await c.reserve('purge-done', { timeout: 0 });
    await c.ack(id);
  }

  assert.equal(await c.purge('purge', { state: 'waiting', older: '1h' }), 0);
  assert.equal(await c.purge('purge', { state: 'waiting', older: 250 }), 1, 'only the job waiting longer than 250 ms');
  await assert.rejects(c.inspect(old.id), NotFound);
  assert.equal((await c.inspect(young[0])).state, 'waiting');
  assert.equal((await c.queue('purge')).totals.deleted, 1, 'purged jobs count as deleted');
  assert.equal(await c.purge('purge', { state: 'waiting' }), 3);
  assert.deepEqual((await c.list('purge')).jobs, []);

  assert.equal(await c.purge('purge-done', { state: 'dead' }), 0);
  assert.equal(await c.purge('purge-done', { state: 'completed' }), 2);
  assert.deepEqual((await c.list('purge-done', { state: 'completed' })).jobs, []);

  await assert.rejects(c.purge('purge', { state: /** @type {any} */ ('active') }), InvalidArgument);
  await assert.rejects(c.purge('purge', /** @type {any} */ ({})), InvalidArgument);
});

test('PROMOTE makes a delayed job waiting now; NOT_DELAYED for a waiting one', { timeout: 8000 }, async () => {
  const events = c.events('promote', { events: ['waiting'] });
  await c.flush();
  try {
    const { id } = await c.enqueue('promote', 'later', { delay: '1h' });
    assert.equal(await c.reserve('promote', { timeout: 0 }), null);
    await c.promote(id);
    const ev = await nextEvent(events);
    assert.equal(ev.event, 'waiting');
    assert.equal(ev.id, id);
    const job = await c.reserve('promote', { timeout: 1000 });
    assert.equal(job?.id, id);
    await c.ack(id);

    const now = await c.enqueue('promote', 'now');
    await assert.rejects(c.promote(now.id), (e) => e instanceof NotDelayed && e.code === 'NOT_DELAYED' && e.serverMessage.length > 0);
    await assert.rejects(c.promote(987654321), NotFound);
    await assert.rejects(c.promote(0), InvalidArgument);
    assert.equal((await c.inspect(now.id)).state, 'waiting');
    await c.delete(now.id);
  } finally {
    events.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Schedules

test('SCHEDULE every=1s: a job keyed <name>@<tick> arrives, a scheduled event with it; SCHEDULES describes it', { timeout: 8000 }, async () => {
  const events = c.events('beat', { events: ['scheduled'] });
  await c.flush();
  try {
    const before = Date.now();
    await c.schedule('pulse', 'beat', 'tick', { every: 1000, priority: 3 });
    const started = performance.now();
    const job = await c.reserve('beat', { timeout: 2500 });
    assert.ok(job, 'a job within 2.5 s');
    assert.ok(performance.now() - started < 2600);
    assert.equal(job.payload.toString(), 'tick');
    const doc = await c.inspect(job.id);
    const m = /^pulse@(\d+)$/.exec(doc.key ?? '');
    assert.ok(m, `key ${doc.key}`);
    const tick = Number(m[1]);
    assert.ok(tick >= before - 1000, 'the tick is a time after the schedule was made');
    assert.equal(doc.priority, 3);
    await c.ack(job.id);
    const ev = await nextEvent(events);
    assert.equal(ev.event, 'scheduled');
    assert.equal(ev.id, job.id);
    assert.equal(/** @type {any} */ (ev).schedule, 'pulse');
    assert.equal(/** @type {any} */ (ev).tick, tick);

    const list = await c.schedules();
    const s = list.find((x) => x.name === 'pulse');
    assert.ok(s, JSON.stringify(list));
    assert.equal(s.queue, 'beat');
    assert.equal(s.every_ms, 1000);
    assert.equal(s.cron, undefined);
    assert.equal(s.catchup, 'one', 'the server default');
    assert.match(s.rule, /^pulse beat every=1s/);
    assert.equal(s.payload_bytes, 4);
    assert.equal(s.paused, false);
    assert.ok(s.created_at >= before - 1000 && s.created_at <= Date.now() + 1000);
    assert.equal(typeof s.last_tick, 'number');
    assert.equal(s.next.length, 3);
    assert.ok(s.next[0] < s.next[1] && s.next[1] < s.next[2]);
    assert.equal(s.next[1] - s.next[0], 1000);
  } finally {
    events.close();
    await c.unschedule('pulse').catch(() => {});
    await c.purge('beat', { state: 'waiting' });
  }
});

test('SCHEDULE with cron and tz; SCHEDULES lists by name; bad arguments refused before sending', { timeout: 8000 }, async () => {
  await c.schedule('nightly', 'reports', { kind: 'daily' }, { cron: '0 3 * * *', tz: 'Europe/Berlin', catchup: 'none', attempts: 2, ttl: '1h' });
  await c.schedule('hourly', 'reports', '', { cron: '@hourly' });
  const list = await c.schedules();
  const names = list.map((s) => s.name);
  assert.deepEqual(names, [...names].sort(), 'by name');
  const nightly = list.find((s) => s.name === 'nightly');
  assert.ok(nightly);
  assert.equal(nightly.cron, '0 3 * * *');
  assert.equal(nightly.tz, 'Europe/Berlin');
  assert.equal(nightly.catchup, 'none');
  assert.equal(nightly.every_ms, undefined);
  assert.ok(nightly.last_tick === null || typeof nightly.last_tick === 'number');
  assert.equal(nightly.next.length, 3);
  for (const t of nightly.next) {
    const local = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit', hour12: false }).format(t);
    assert.equal(local, '03:00');
  }
  // Replacing keeps one schedule of the name.
  await c.schedule('nightly', 'reports', '', { cron: '30 4 * * *' });
  assert.equal((await c.schedules()).filter((s) => s.name === 'nightly').length, 1);

  for (const opts of [
    { cron: '* * * * *', every: 60_000 },
    {},
    { every: 60_000, tz: 'UTC' },
    { every: 500 },
    { every: 60_000, catchup: 'some' },
    { cron: '0 3 * * "' },
    { every: 60_000, key: 'k' },
    { every: 60_000, delay: 5000 },
    { every: 60_000, at: 1 },
    { every: 60_000, expires: Date.now() + 60_000 },
  ]) {
    await assert.rejects(c.schedule('s', 'reports', '', /** @type {any} */ (opts)), InvalidArgument, JSON.stringify(opts));
  }
  await assert.rejects(c.schedule('a.b', 'reports', '', { every: 60_000 }), InvalidArgument);
  // The server's own checks: a cron expression it cannot read.
  await assert.rejects(c.schedule('s', 'reports', '', { cron: '61 * * * *' }), (e) => /** @type {any} */ (e).code === 'BAD_OPTION');
  await c.unschedule('nightly');
  await c.unschedule('hourly');
});

test('PAUSE/RESUME schedule=: no ticks while paused, then again', { timeout: 9000 }, async () => {
  await c.schedule('paused-pulse', 'paused-beat', 'p', { every: '1s' });
  await c.pauseSchedule('paused-pulse');
  await c.purge('paused-beat', { state: 'waiting' }); // a tick that fired before the pause
  let s = (await c.schedules()).find((x) => x.name === 'paused-pulse');
  assert.equal(s?.paused, true);
  assert.deepEqual(s?.next, [], 'no next ticks while paused');
  await sleep(1300);
  assert.equal(await c.reserve('paused-beat', { timeout: 0 }), null, 'no job while paused');

  await c.resumeSchedule('paused-pulse');
  s = (await c.schedules()).find((x) => x.name === 'paused-pulse');
  assert.equal(s?.paused, false);
  assert.equal(s?.next.length, 3);
  const job = await c.reserve('paused-beat', { timeout: 2500 });
  assert.ok(job, 'ticks again after RESUME');
  await c.ack(job.id);
  await c.unschedule('paused-pulse');
});

test('UNSCHEDULE removes a schedule; NOT_FOUND for one that does not exist', { timeout: 8000 }, async () => {
  await c.schedule('gone', 'gone-q', '', { every: '1h' });
  assert.ok((await c.schedules()).some((s) => s.name === 'gone'));
  await c.unschedule('gone');
  assert.ok(!(await c.schedules()).some((s) => s.name === 'gone'));
  await assert.rejects(c.unschedule('gone'), (e) => e instanceof NotFound && e.code === 'NOT_FOUND');
  await assert.rejects(c.pauseSchedule('gone'), NotFound);
  await assert.rejects(c.resumeSchedule('gone'), NotFound);
  await assert.rejects(c.unschedule(''), InvalidArgument);
  assert.ok(c.isConnected && c.reconnects === 0);
});

// ---------------------------------------------------------------------------------------------
// Expiry

test('ENQ ttl= and expires=: INSPECT shows expires_at; an expiry in the past makes the job dead at once', { timeout: 8000 }, async () => {
  const withTtl = await c.enqueue('expiry', 'x', { ttl: '1h' });
  const doc = await c.inspect(withTtl.id);
  assert.equal(doc.expires_at, /** @type {number} */ (doc.enqueued_at) + 3_600_000);
  assert.equal(doc.state, 'waiting');

  const at = new Date(Date.now() + 60_000);
  const withDate = await c.enqueue('expiry', 'y', { expires: at });
  assert.equal((await c.inspect(withDate.id)).expires_at, at.getTime());

  const past = Date.now() - 1000;
  const expired = await c.enqueue('expiry', 'z', { expires: past });
  const dead = await c.inspect(expired.id);
  assert.equal(dead.state, 'dead');
  assert.equal(dead.expires_at, past);
  assert.match(dead.last_error ?? '', /^expired/);
  const outcome = await c.wait(expired.id, { timeout: 1000 });
  assert.equal(outcome.state, 'dead');
  assert.equal(outcome.pending, false);
  assert.deepEqual((await c.list('expiry', { state: 'dead' })).jobs.map((j) => j.id), [expired.id]);

  await assert.rejects(c.enqueue('expiry', 'x', { ttl: 1000, expires: Date.now() + 1000 }), InvalidArgument);
  await assert.rejects(c.enqueue('expiry', 'x', { ttl: 0 }), InvalidArgument);
  await assert.rejects(c.route('expiry.*', 'expiry', /** @type {any} */ ({ expires: Date.now() })), InvalidArgument);
  await c.purge('expiry', { state: 'waiting' });
});

test('a job not started within its ttl expires: dead, with an expired event', { timeout: 8000 }, async () => {
  const events = c.events('expiry-ttl', { events: ['expired'] });
  await c.flush();
  try {
    await c.pause('expiry-ttl');
    const { id } = await c.enqueue('expiry-ttl', 'too late', { ttl: 300 });
    const ev = await nextEvent(events, 4000);
    assert.equal(ev.event, 'expired');
    assert.equal(ev.id, id);
    const doc = await waitFor(async () => {
      const d = await c.inspect(id);
      return d.state === 'dead' ? d : null;
    }, 3000, 'the job to be dead');
    assert.match(doc.last_error ?? '', /^expired/);
    await c.resume('expiry-ttl');
    assert.equal(await c.reserve('expiry-ttl', { timeout: 0 }), null, 'an expired job never starts');
  } finally {
    events.close();
  }
});

test('SCHEDULES answers pages by name; schedulesAll() reads them all', { timeout: 8000 }, async () => {
  const names = ['pg-a', 'pg-b', 'pg-c', 'pg-d', 'pg-e'];
  try {
    for (const name of [...names].reverse()) await c.schedule(name, 'paged', '', { every: '1h' });
    const mine = (list) => list.map((s) => s.name).filter((n) => n.startsWith('pg-'));
    assert.deepEqual(mine(await c.schedules({ after: 'pg-', limit: 2 })), ['pg-a', 'pg-b']);
    assert.deepEqual(mine(await c.schedules({ after: 'pg-b', limit: 2 })), ['pg-c', 'pg-d']);
    const all = [];
    for await (const s of c.schedulesAll({ pageSize: 2 })) all.push(s.name);
    assert.deepEqual(all.filter((n) => n.startsWith('pg-')), names);
    assert.throws(() => c.schedulesAll({ pageSize: 0 }), InvalidArgument);
  } finally {
    for (const name of names) await c.unschedule(name).catch(() => {});
  }
});

test('CHILDREN answers pages of a job\'s children by id; childrenAll() reads them all', { timeout: 8000 }, async () => {
  const parent = (await c.enqueue('kids', 'p')).id;
  const kids = [];
  for (let i = 0; i < 5; i++) kids.push((await c.enqueue('kids', `k${i}`, { after: [parent] })).id);
  const first = await c.children(parent, { limit: 2 });
  assert.deepEqual(first, { id: parent, children: kids.slice(0, 2), next: kids[1] });
  const last = await c.children(parent, { after: kids[3] });
  assert.deepEqual(last, { id: parent, children: [kids[4]], next: null });
  const all = [];
  for await (const id of c.childrenAll(parent, { pageSize: 2 })) all.push(id);
  assert.deepEqual(all, kids);
  assert.deepEqual((await c.children(kids[0])).children, []);
  await assert.rejects(c.children(999999), NotFound);
  assert.throws(() => c.childrenAll(parent, { pageSize: 0 }), InvalidArgument);
});
