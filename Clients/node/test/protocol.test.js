// The parser and encoders on bytes, without a server.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  Parser,
  encodePublish,
  encodeEnqueue,
  encodeFail,
  encodeReserve,
  encodeAck,
  encodeProgress,
  encodeDead,
  encodeSub,
  encodeUnsub,
  encodeTouch,
  durationMs,
  toBytes,
} from '../src/protocol.js';
import { ProtocolError, InvalidArgument } from '../src/errors.js';

const STREAM = Buffer.concat([
  Buffer.from('INFO {"server_id":"X","version":"2.9.0","max_payload":1048576,"headers":true}\r\n'),
  Buffer.from('MSG a.b 1 5\r\nhe\r\nl\r\n'),
  Buffer.from('MSG a.b 1 _INBOX.x 0\r\n\r\n'),
  Buffer.from('HMSG a.b 2 r.1 19 22\r\nNATS/1.0\r\nK: v1\r\n\r\nabc\r\n'),
  Buffer.from('HMSG _INBOX.x 3 16 16\r\nNATS/1.0 503\r\n\r\n\r\n'),
  Buffer.from('PING\r\nPONG\r\n+OK\r\n+OK 7 duplicate\r\n-ERR \'NOT_HELD job 7 is not reserved\'\r\n'),
  Buffer.from('JOB 7 emails 2 3\r\n\x00\r\n\r\nNOJOB\r\nJSON 8\r\n{"id":7}\r\n'),
]);

function parseAll(chunks) {
  const frames = [];
  const p = new Parser((f) => frames.push(f));
  for (const c of chunks) p.push(c);
  return frames;
}

function simplify(frames) {
  return frames.map((f) => {
    const o = { ...f };
    if (o.payload) o.payload = o.payload.toString('latin1');
    if (o.headers) o.headers = o.headers.toJSON();
    return o;
  });
}

test('parses a stream however it is split', () => {
  const whole = simplify(parseAll([STREAM]));
  assert.equal(whole.length, 13);
  assert.deepEqual(whole[1], { op: 'MSG', subject: 'a.b', sid: '1', reply: null, payload: 'he\r\nl' });
  assert.deepEqual(whole[3], { op: 'HMSG', subject: 'a.b', sid: '2', reply: 'r.1', payload: 'abc', headers: [['K', 'v1']], status: null, description: null });
  assert.equal(whole[4].status, 503);
  assert.deepEqual(whole[9], { op: 'ERR', text: 'NOT_HELD job 7 is not reserved' });
  assert.deepEqual(whole[10], { op: 'JOB', id: 7, queue: 'emails', attempt: 2, leaseMs: null, delivery: null, payload: '\x00\r\n' });
  assert.deepEqual(whole[12].value, { id: 7 });
  for (let i = 1; i < STREAM.length; i++) {
    assert.deepEqual(simplify(parseAll([STREAM.subarray(0, i), STREAM.subarray(i)])), whole, `split at ${i}`);
  }
  const bytes = [];
  for (let i = 0; i < STREAM.length; i++) bytes.push(STREAM.subarray(i, i + 1));
  assert.deepEqual(simplify(parseAll(bytes)), whole);
});

test('rejects malformed server bytes', () => {
  const bad = [
    'FOO bar\r\n',
    'MSG a 1\r\n',
    'MSG a 1 x\r\n',
    'MSG a 1 3\r\nabcd\r\n',
    'HMSG a 1 10 5\r\n',
    'PING\n',
    "-ERR no quotes\r\n",
    'INFO {not json}\r\n',
    'JOB x q 1 1\r\na\r\n',
    'JSON 3\r\n{x}\r\n',
  ];
  for (const b of bad) assert.throws(() => parseAll([Buffer.from(b)]), ProtocolError, JSON.stringify(b));
});

test('a header block that is not NATS/1.0 lines is the publisher\'s fault: the message comes without headers', () => {
  const [m] = parseAll([Buffer.from('HMSG a 1 8 10\r\nHTTP\r\n\r\nhi\r\n')]);
  assert.equal(m.op, 'HMSG');
  assert.equal(m.headers.size, 0);
  assert.equal(m.status, null);
  assert.equal(m.payload.toString(), 'hi');
});

test('encodes commands byte for byte', () => {
  assert.equal(encodePublish('a.b', 'hi').toString(), 'PUB a.b 2\r\nhi\r\n');
  assert.equal(encodePublish('a.b', 'hi', { reply: 'r' }).toString(), 'PUB a.b r 2\r\nhi\r\n');
  assert.equal(encodePublish('a', 'x', { headers: { K: 'v' } }).toString(), 'HPUB a 18 19\r\nNATS/1.0\r\nK: v\r\n\r\nx\r\n');
  assert.equal(encodeSub('a.*', 3, { queue: 'g' }).toString(), 'SUB a.* g 3\r\n');
  assert.equal(encodeUnsub(3, 5).toString(), 'UNSUB 3 5\r\n');
  assert.equal(
    encodeEnqueue('q', 'hello', { delay: 250, priority: -1, attempts: 5, backoff: 'exp:1s:1h', jitter: 0.5, lease: '30s', key: 'k1' }).toString(),
    'ENQ q delay=250ms pri=-1 attempts=5 backoff=exp:1s:1h jitter=0.5 lease=30s key=k1 5\r\nhello\r\n',
  );
  assert.equal(encodeEnqueue('q', '', { at: new Date(1_700_000_000_500) }).toString(), 'ENQ q at=1700000001 0\r\n\r\n');
  assert.equal(encodeReserve(['a', 'b'], { timeout: 0 }).toString(), 'RESERVE a,b timeout=0s\r\n');
  assert.equal(encodeReserve('a').toString(), 'RESERVE a\r\n');
  assert.equal(encodeAck(4).toString(), 'ACK 4\r\n');
  assert.equal(encodeAck(4, 'r').toString(), 'ACK 4 1\r\nr\r\n');
  assert.equal(encodeFail(4, { retry: false, reason: 'x' }).toString(), 'FAIL 4 retry=no 1\r\nx\r\n');
  assert.equal(encodeFail(4, { retry: 1500 }).toString(), 'FAIL 4 retry=1500ms\r\n');
  assert.equal(encodeFail(4, { retry: 30_000 }).toString(), 'FAIL 4 retry=30s\r\n');
  assert.equal(encodeEnqueue('q', '', { jitter: 1e-7 }).toString(), 'ENQ q jitter=0.0000001 0\r\n\r\n');
  assert.throws(() => encodeEnqueue('q', '', { delay: 1, at: 5 }), InvalidArgument);
  assert.throws(() => encodeEnqueue('bad!q', ''), InvalidArgument);
  assert.throws(() => encodeEnqueue('q', '', { attempts: 0 }), InvalidArgument);
  assert.throws(() => encodeEnqueue('q', '', { key: 'k'.repeat(201) }), InvalidArgument);
  assert.equal(encodeProgress(4, 50, 'half').toString(), 'PROGRESS 4 50 4\r\nhalf\r\n');
  assert.equal(encodeDead('q', { limit: 10 }).toString(), 'DEAD q limit=10\r\n');
  assert.throws(() => encodePublish('a b', 'x'), InvalidArgument);
  assert.throws(() => encodeEnqueue('q', 'x', { key: 'a b' }), InvalidArgument);
  assert.throws(() => encodeEnqueue('q\r\n', 'x'), InvalidArgument);
  assert.equal(encodeAck(4, undefined, 3).toString(), 'ACK 4 attempt=3\r\n');
  assert.equal(encodeFail(4, { attempt: 2, retry: 0 }).toString(), 'FAIL 4 attempt=2 retry=0s\r\n');
  assert.equal(encodeProgress(4, 50, null, 9).toString(), 'PROGRESS 4 50 attempt=9\r\n');
  assert.equal(encodeTouch(4, 1).toString(), 'TOUCH 4 attempt=1\r\n');
  assert.throws(() => encodeTouch(4, 1.5), InvalidArgument);
  assert.throws(() => encodeAck(4, undefined, -1), InvalidArgument);
  assert.equal(durationMs('2m'), 120_000);
  assert.equal(durationMs('3'), 3000);
});

test('JOB fields: lease, delivery (exact above 2^53), unknown names ignored', () => {
  const [a, b] = parseAll([Buffer.from('JOB 5 q 1 lease=1000 delivery=18446744073709551615 x-new=1 2\r\nhi\r\nJOB 6 q 3 delivery=9007199254740991 0\r\n\r\n')]);
  assert.equal(a.leaseMs, 1000);
  assert.equal(a.delivery, '18446744073709551615');
  assert.equal(a.payload.toString(), 'hi');
  assert.equal(b.leaseMs, null);
  assert.equal(b.delivery, 9007199254740991);
  for (const bad of ['JOB 5 q 1 delivery=-1 0\r\n\r\n', 'JOB 5 q 1 =3 0\r\n\r\n', 'JOB 5 q 1 delivery= 0\r\n\r\n', 'JOB 5 q 1 0 0\r\n\r\n']) {
    assert.throws(() => parseAll([Buffer.from(bad)]), ProtocolError, JSON.stringify(bad));
  }
});

test('values that cannot be a payload are refused with InvalidArgument', () => {
  const circular = {};
  circular.self = circular;
  for (const v of [10n, circular, () => 1, Symbol('s'), { toJSON() { throw new Error('no'); } }]) {
    assert.throws(() => toBytes(v), InvalidArgument, String(typeof v));
  }
});
