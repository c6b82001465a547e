// Runs the language-agnostic client conformance cases (Protocol/client-conformance/cases.json,
// format in its README.md) against this library. No server needed.
//
// encode: job verbs, publish and ping go through a real Client whose socket only records what is
//         written (so the client's own argument handling is covered); subscribe and unsubscribe,
//         whose sids the Client picks itself, go through the encoders the Client calls.
// decode / reject: the input is fed to the Parser all at once and one byte at a time, and the
//         frame is routed with route(), exactly as Client does with what it reads.
//
// Known gaps: conformance-gaps.txt, one case name a line (blank lines and # comments allowed).
// A listed case must fail; a listed case that passes, or a listed name that is not a case, fails
// the run.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client } from '../src/client.js';
import { InvalidArgument, ProtocolError, ServerError } from '../src/errors.js';
import { Parser, encodeSub, encodeUnsub, route } from '../src/protocol.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CASES = process.env.DOCKET_CLIENT_CASES ?? path.resolve(here, '../../../Protocol/client-conformance/cases.json');
const GAPS = path.resolve(here, '../conformance-gaps.txt');

// ---------------------------------------------------------------------------------------------
// File format

const COMMON_FIELDS = ['name', 'kind', 'note'];
const KIND_FIELDS = {
  encode: ['call', 'args', 'expect', 'expect_error'],
  decode: ['reply_to', 'input', 'expect'],
  reject: ['reply_to', 'input'],
};
const ENQUEUE_ARGS = [
  'queue', 'payload', 'delay', 'at', 'priority', 'attempts', 'backoff', 'jitter', 'lease', 'key', 'group', 'ttl', 'expires',
  'after', 'on_parent_dead', 'key_ttl', 'replace',
];
const CALL_ARGS = {
  publish: ['subject', 'payload', 'reply', 'headers'],
  subscribe: ['subject', 'sid', 'queue'],
  unsubscribe: ['sid', 'max'],
  ping: [],
  enqueue: ENQUEUE_ARGS,
  batch: ['jobs'],
  parents: ['id'],
  reserve: ['queues', 'timeout'],
  ack: ['id', 'attempt', 'result'],
  fail: ['id', 'attempt', 'reason', 'retry', 'throttle', 'scope'],
  progress: ['id', 'percent', 'attempt', 'note'],
  touch: ['id', 'attempt'],
  inspect: ['id'],
  dead: ['queue', 'limit'],
  retry: ['id'],
  retry_queue: ['queue'],
  delete: ['id'],
  list: ['queue', 'state', 'after', 'limit'],
  purge: ['queue', 'state', 'older'],
  promote: ['id'],
  help: [],
  wait: ['id', 'timeout'],
  queue: ['queue'],
  set_queue: ['queue', 'rate', 'group_rate', 'concurrency', 'attempts', 'backoff', 'jitter', 'lease', 'keep_completed', 'keep_dead'],
  pause: ['queue'],
  resume: ['queue'],
  queues: ['after', 'limit'],
  stats: [],
  route: ['pattern', 'queue', 'delay', 'priority', 'attempts', 'backoff', 'jitter', 'lease', 'group', 'key', 'at', 'after'],
  unroute: ['id'],
  routes: ['after', 'limit'],
  schedule: ['name', 'queue', 'payload', 'cron', 'every', 'tz', 'catchup', 'priority', 'attempts', 'backoff', 'jitter', 'lease', 'group', 'ttl', 'key', 'at', 'delay', 'expires'],
  unschedule: ['name'],
  schedules: ['after', 'limit'],
  pause_schedule: ['name'],
  resume_schedule: ['name'],
};

/** This library's reply decoder for a neutral call name (where the names differ). */
const DECODER = { set_queue: 'queue_set' };

/** The settings of set_queue: neutral name → this library's option name. */
const QUEUE_SETTING_NAMES = {
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

const BIG = '\u0000bigint:';

/**
 * JSON.parse, but integers beyond Number.MAX_SAFE_INTEGER (19-digit job ids) become BigInts
 * instead of rounded numbers: the cases compare ids exactly.
 * @param {string} text
 */
function parseExact(text) {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '"') {
      // copy a string literal, escapes included
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (ch === '-' || (ch >= '0' && ch <= '9')) {
      const m = /^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/.exec(text.slice(i));
      const literal = m[0];
      const exactInteger = m[1] === undefined && m[2] === undefined;
      out += exactInteger && !Number.isSafeInteger(Number(literal)) ? JSON.stringify(BIG + literal) : literal;
      i += literal.length;
    } else {
      out += ch;
      i += 1;
    }
  }
  return JSON.parse(out, (_k, v) => (typeof v === 'string' && v.startsWith(BIG) ? BigInt(v.slice(BIG.length)) : v));
}

/** An id as this library returns it (a number, or a decimal string above 2^53) for exact comparison. */
const exactId = (v) => (typeof v === 'string' ? BigInt(v) : v);

/** A byte string of the file (one character per byte, U+0000..U+00FF) as bytes. @param {string} s */
function bytes(s) {
  assert.equal(typeof s, 'string', 'byte strings are JSON strings');
  for (const ch of s) if (ch.codePointAt(0) > 0xff) throw new Error(`character above U+00FF in a byte string: ${JSON.stringify(ch)}`);
  return Buffer.from(s, 'latin1');
}

/** Bytes as a byte string of the file. @param {Buffer} b */
const str = (b) => b.toString('latin1');

/** @param {Record<string, any>} c */
function checkShape(c) {
  assert.match(c.name ?? '', /^[a-z0-9_]+$/, 'case name');
  const known = KIND_FIELDS[c.kind];
  if (!known) throw new Error(`unknown case kind ${JSON.stringify(c.kind)}`);
  for (const k of Object.keys(c)) if (!COMMON_FIELDS.includes(k) && !known.includes(k)) throw new Error(`unknown field ${k} in a ${c.kind} case`);
  if (c.kind === 'encode') {
    const allowed = CALL_ARGS[c.call];
    if (!allowed) throw new Error(`unknown call ${JSON.stringify(c.call)}`);
    for (const k of Object.keys(c.args ?? {})) if (!allowed.includes(k)) throw new Error(`unknown argument ${k} of ${c.call}`);
    if (c.call === 'batch') {
      if (!Array.isArray(c.args?.jobs)) throw new Error('batch jobs is a list');
      for (const job of c.args.jobs) for (const k of Object.keys(job)) if (!ENQUEUE_ARGS.includes(k)) throw new Error(`unknown argument ${k} of a batch job`);
    }
    if (('expect' in c) === ('expect_error' in c)) throw new Error('an encode case has exactly one of expect and expect_error');
    if ('expect_error' in c && c.expect_error !== 'bad_argument') throw new Error(`unknown expect_error ${JSON.stringify(c.expect_error)}`);
  } else {
    if (c.reply_to !== undefined && !CALL_ARGS[c.reply_to]) throw new Error(`unknown reply_to ${JSON.stringify(c.reply_to)}`);
    if (c.kind === 'decode' && (c.expect === null || typeof c.expect !== 'object' || Object.keys(c.expect).length !== 1)) {
      throw new Error('a decode expect is a one-key object');
    }
  }
}

// ---------------------------------------------------------------------------------------------
// encode

/** A neutral duration (a number of seconds, or a string) as this library takes it (ms, or a string). */
const duration = (d) => (typeof d === 'number' ? d * 1000 : d);

/**
 * The enqueue options of this library for the neutral arguments of `enqueue` (and of a `batch` job).
 * @param {Record<string, any>} a
 */
function enqueueOptions(a) {
  /** @type {Record<string, any>} */
  const opts = {};
  for (const k of ['delay', 'lease', 'ttl']) if (a[k] !== undefined) opts[k] = duration(a[k]);
  for (const k of ['at', 'priority', 'attempts', 'backoff', 'jitter', 'key', 'group', 'expires', 'after', 'replace']) if (a[k] !== undefined) opts[k] = a[k];
  if (a.on_parent_dead !== undefined) opts.onParentDead = a.on_parent_dead;
  if (a.key_ttl !== undefined) opts.keyTtl = duration(a.key_ttl);
  return opts;
}

/** A Client that is "connected" to a socket that records what is written. */
function recordingClient() {
  const client = new Client({ reconnect: false });
  /** @type {Buffer[]} */
  const written = [];
  const socket = { write: (b) => written.push(Buffer.from(b)), cork() {}, uncork() {}, end() {}, destroy() {}, destroyed: false, once() {} };
  client.socket = /** @type {any} */ (socket);
  client.state = 'connected';
  client.info = { max_payload: 1024 * 1024 };
  return { client, written };
}

/**
 * Makes the call; resolves with the bytes written, or rejects with what the call threw.
 * @param {string} call @param {Record<string, any>} a
 * @returns {Promise<Buffer>}
 */
async function encode(call, a) {
  if (call === 'subscribe') return encodeSub(a.subject, a.sid, { queue: a.queue });
  if (call === 'unsubscribe') return encodeUnsub(a.sid, a.max);
  const { client, written } = recordingClient();
  const payload = (v) => (v === undefined ? undefined : bytes(v));
  /** @type {Promise<unknown>|undefined} */
  let pending;
  switch (call) {
    case 'publish':
      client.publish(a.subject, bytes(a.payload), { reply: a.reply, headers: a.headers });
      break;
    case 'ping':
      pending = client.flush();
      break;
    case 'enqueue':
      pending = client.enqueue(a.queue, bytes(a.payload), enqueueOptions(a));
      break;
    case 'batch':
      pending = client.batch(a.jobs.map((/** @type {Record<string, any>} */ j) => ({ queue: j.queue, payload: bytes(j.payload), ...enqueueOptions(j) })));
      break;
    case 'parents':
      pending = client.parents(a.id);
      break;
    case 'reserve':
      pending = client.reserve(a.queues, a.timeout === undefined ? {} : { timeout: duration(a.timeout) });
      break;
    case 'ack':
      pending = client.ack(a.id, payload(a.result), { attempt: a.attempt });
      break;
    case 'fail':
      pending = client.fail(a.id, {
        attempt: a.attempt,
        reason: payload(a.reason),
        retry: a.retry === false ? false : a.retry === undefined ? undefined : duration(a.retry),
        throttle: a.throttle === undefined ? undefined : duration(a.throttle),
        scope: a.scope,
      });
      break;
    case 'progress':
      pending = client.progress(a.id, a.percent, payload(a.note), { attempt: a.attempt });
      break;
    case 'touch':
      pending = client.touch(a.id, { attempt: a.attempt });
      break;
    case 'inspect':
      pending = client.inspect(a.id);
      break;
    case 'dead':
      pending = client.dead(a.queue, a.limit === undefined ? {} : { limit: a.limit });
      break;
    case 'retry':
      pending = client.retry(a.id);
      break;
    case 'retry_queue':
      pending = client.retryQueue(a.queue);
      break;
    case 'delete':
      pending = client.delete(a.id);
      break;
    case 'list':
      pending = client.list(a.queue, { state: a.state, after: a.after, limit: a.limit });
      break;
    case 'purge':
      pending = client.purge(a.queue, { state: a.state, older: a.older === undefined ? undefined : duration(a.older) });
      break;
    case 'promote':
      pending = client.promote(a.id);
      break;
    case 'help':
      pending = client.help();
      break;
    case 'wait':
      pending = client.wait(a.id, a.timeout === undefined ? {} : { timeout: duration(a.timeout) });
      break;
    case 'queue':
      pending = client.queue(a.queue);
      break;
    case 'set_queue': {
      /** @type {Record<string, any>} */
      const settings = {};
      for (const [name, option] of Object.entries(QUEUE_SETTING_NAMES)) {
        const v = a[name];
        if (v === undefined) continue;
        settings[option] = v === 'none' ? null : name === 'lease' ? duration(v) : v;
      }
      pending = client.setQueue(a.queue, settings);
      break;
    }
    case 'pause':
      pending = client.pause(a.queue);
      break;
    case 'resume':
      pending = client.resume(a.queue);
      break;
    case 'queues':
      pending = client.queues({ after: a.after, limit: a.limit });
      break;
    case 'stats':
      pending = client.stats();
      break;
    case 'route': {
      /** @type {Record<string, any>} */
      const opts = {};
      for (const k of ['delay', 'lease']) if (a[k] !== undefined) opts[k] = duration(a[k]);
      for (const k of ['priority', 'attempts', 'backoff', 'jitter', 'group', 'key', 'at', 'after']) if (a[k] !== undefined) opts[k] = a[k];
      pending = client.route(a.pattern, a.queue, opts);
      break;
    }
    case 'unroute':
      pending = client.unroute(a.id);
      break;
    case 'routes':
      pending = a.after === undefined && a.limit === undefined ? client.routes() : client.routesPage({ after: a.after, limit: a.limit });
      break;
    case 'schedule': {
      /** @type {Record<string, any>} */
      const opts = {};
      for (const k of ['every', 'lease', 'ttl', 'delay']) if (a[k] !== undefined) opts[k] = duration(a[k]);
      for (const k of ['cron', 'tz', 'catchup', 'priority', 'attempts', 'backoff', 'jitter', 'group', 'key', 'at', 'expires']) if (a[k] !== undefined) opts[k] = a[k];
      pending = client.schedule(a.name, a.queue, bytes(a.payload), opts);
      break;
    }
    case 'unschedule':
      pending = client.unschedule(a.name);
      break;
    case 'schedules':
      pending = client.schedules({ after: a.after, limit: a.limit });
      break;
    case 'pause_schedule':
      pending = client.pauseSchedule(a.name);
      break;
    case 'resume_schedule':
      pending = client.resumeSchedule(a.name);
      break;
    default:
      throw new Error(`no mapping for call ${call}`);
  }
  // A refused call rejects at once; an accepted one waits for a reply that never comes.
  if (pending) {
    const outcome = await Promise.race([pending.then(() => null, (e) => e), new Promise((r) => setImmediate(() => r(null)))]);
    if (outcome) throw outcome;
  }
  await new Promise((r) => process.nextTick(r));
  return Buffer.concat(written);
}

/** @param {Record<string, any>} c */
async function runEncode(c) {
  if ('expect_error' in c) {
    let written;
    try {
      written = await encode(c.call, c.args ?? {});
    } catch (err) {
      assert.ok(err instanceof InvalidArgument, `refused with InvalidArgument, got ${err}`);
      return;
    }
    assert.fail(`expected a refusal, but the call sent ${JSON.stringify(str(written))}`);
  }
  const got = await encode(c.call, c.args ?? {});
  assert.equal(str(got), str(bytes(c.expect)));
}

// ---------------------------------------------------------------------------------------------
// decode / reject

/**
 * Parses the input fed as the given chunks and routes the one operation.
 * @param {Buffer[]} chunks @param {string|undefined} replyTo
 */
function parseAndRoute(chunks, replyTo) {
  /** @type {any[]} */
  const frames = [];
  const parser = new Parser((f) => frames.push(f));
  for (const ch of chunks) parser.push(ch);
  if (frames.length !== 1) throw new Error(`expected exactly one operation, got ${frames.length}`);
  if (!parser.idle) throw new Error('bytes left over after the operation');
  return toResult(route(frames[0], replyTo === undefined ? undefined : DECODER[replyTo] ?? replyTo), replyTo);
}

/** The result vocabulary of the README. @param {import('../src/protocol.js').Routed} r @param {string|undefined} replyTo */
function toResult(r, replyTo) {
  switch (r.to) {
    case 'message': {
      const f = /** @type {any} */ (r.frame);
      return {
        message: {
          subject: f.subject,
          sid: f.sid,
          reply: f.reply,
          headers: f.op === 'HMSG' ? f.headers.toJSON() : null,
          status: f.op === 'HMSG' ? f.status : null,
          description: f.op === 'HMSG' ? f.description : null,
          payload: str(f.payload),
        },
      };
    }
    case 'ping':
      return { ping: null };
    case 'info':
      return { info: r.info };
    case 'server_error':
      return { server_error: r.text };
    case 'reply': {
      if ('error' in r && r.error instanceof ServerError) return { command_error: r.error.text };
      if ('error' in r) return { error: { code: r.error.code, message: r.error.serverMessage } };
      const v = r.value;
      switch (replyTo) {
        case 'ping':
          return { pong: null };
        case 'ack':
        case 'progress':
        case 'touch':
        case 'retry':
        case 'delete':
        case 'set_queue':
        case 'pause':
        case 'resume':
        case 'unroute':
        case 'promote':
        case 'schedule':
        case 'unschedule':
        case 'pause_schedule':
        case 'resume_schedule':
          if (v !== undefined && v !== null) throw new Error(`a plain +OK gave ${JSON.stringify(v)}`);
          return { ok: null };
        case 'enqueue':
          if (v.replaced) return { replaced: { id: exactId(v.id) } };
          return { enqueued: { id: exactId(v.id), duplicate: v.duplicate } };
        case 'batch':
          return { ids: v.map(exactId) };
        case 'reserve':
          // delivery: a number, or a decimal string above Number.MAX_SAFE_INTEGER (compared as a number)
          return {
            job:
              v === null
                ? null
                : {
                    id: exactId(v.id),
                    queue: v.queue,
                    attempt: v.attempt,
                    payload: str(v.payload),
                    lease_ms: v.leaseMs,
                    delivery: exactId(v.delivery),
                  },
          };
        case 'fail':
          return { fail: { outcome: v.outcome, delay_ms: v.outcome === 'dead' ? null : v.delayMs } };
        case 'retry_queue':
        case 'purge':
          return { count: v };
        case 'inspect':
        case 'dead':
        case 'queue':
        case 'queues':
        case 'stats':
        case 'routes':
        case 'list':
        case 'schedules':
        case 'parents':
          return { json: v };
        case 'wait':
          if (v.pending) return { pending: { id: exactId(v.id), state: v.state } };
          return { outcome: { id: exactId(v.id), state: v.state, detail: str(v.state === 'completed' ? v.result : Buffer.from(v.error, 'utf8')) } };
        case 'route':
          return { route_id: exactId(v) };
        case 'help':
          return { help: v };
        default:
          throw new Error(`no result mapping for a reply to ${replyTo}`);
      }
    }
    default:
      throw new Error(`unknown routing ${JSON.stringify(r)}`);
  }
}

/** @param {Buffer} input */
const oneByOne = (input) => Array.from({ length: input.length }, (_, i) => input.subarray(i, i + 1));

/** @param {Record<string, any>} c */
function runDecode(c) {
  const input = bytes(c.input);
  const expect = c.expect;
  assert.deepStrictEqual(parseAndRoute([input], c.reply_to), expect, 'input fed at once');
  assert.deepStrictEqual(parseAndRoute(oneByOne(input), c.reply_to), expect, 'input fed one byte at a time');
}

/** @param {Record<string, any>} c */
function runReject(c) {
  const input = bytes(c.input);
  for (const [how, chunks] of [['at once', [input]], ['one byte at a time', oneByOne(input)]]) {
    let result;
    try {
      result = parseAndRoute(/** @type {Buffer[]} */ (chunks), c.reply_to);
    } catch (err) {
      assert.ok(err instanceof ProtocolError, `fed ${how}: expected a ProtocolError, got ${err}`);
      continue;
    }
    assert.fail(`fed ${how}: expected a protocol error, got ${JSON.stringify(result, (_k, v) => (typeof v === "bigint" ? v.toString() : v))}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The run

/** @param {Record<string, any>} c */
async function runCase(c) {
  checkShape(c);
  if (c.kind === 'encode') return runEncode(c);
  if (c.kind === 'decode') return runDecode(c);
  return runReject(c);
}

const haveCases = existsSync(CASES);

test('client conformance cases file is present and well formed', () => {
  assert.ok(haveCases, `no cases file at ${CASES}`);
  const doc = parseExact(readFileSync(CASES, 'utf8'));
  assert.equal(doc.version, 1, 'cases.json version');
  assert.ok(Array.isArray(doc.cases));
  const names = doc.cases.map((/** @type {any} */ c) => c.name);
  assert.equal(new Set(names).size, names.length, 'case names are unique');
});

if (haveCases) {
  const doc = parseExact(readFileSync(CASES, 'utf8'));
  /** @type {Record<string, any>[]} */
  const cases = Array.isArray(doc.cases) ? doc.cases : [];
  const gaps = existsSync(GAPS)
    ? readFileSync(GAPS, 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#'))
    : [];

  test('conformance-gaps.txt names only existing cases', () => {
    const names = new Set(cases.map((c) => c.name));
    const stale = gaps.filter((g) => !names.has(g));
    assert.deepEqual(stale, [], 'gap names that are not cases');
  });

  for (const c of cases) {
    const gap = gaps.includes(c.name);
    test(`conformance ${c.kind} ${c.name}${gap ? ' (known gap)' : ''}`, async () => {
      if (!gap) return runCase(c);
      let passed = false;
      try {
        await runCase(c);
        passed = true;
      } catch {
        // expected: a known gap
      }
      assert.ok(!passed, `${c.name} passes now: remove it from conformance-gaps.txt`);
    });
  }
}
