// TLS: tls:// urls, CA / client certificate options, the upgrade after INFO when INFO says
// tls_required (as NATS clients do it), TLS handshake first, and the failures (an untrusted server,
// a missing client certificate, a server without TLS). Against a real nats-server with TLS, a
// scripted TLS server for handshake-first, and docketd once it has --tls (skipped until then).
// Certificates are made with the openssl command line in a temporary directory.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { inspect } from 'node:util';

import { Client, InvalidArgument, TlsError, Worker, connect } from '../src/index.js';
import { fakeServer } from '../testkit/fake-server.js';
import { DOCKETD, nextMsg, quietLogger, startServer, within } from '../testkit/helpers.js';
import { makeCerts, natsSkipReason, startNatsServer, tlsSkipReason } from '../testkit/tls.js';

const noTls = tlsSkipReason();
const noNats = natsSkipReason();

/** @type {import('../testkit/tls.js').Certs} */
let certs;
before(() => {
  if (!noTls) certs = makeCerts();
});
after(() => certs?.cleanup());

/** @param {string[]} [extra] */
const natsTls = (extra = []) => ['--tls', '--tlscert', certs.serverCert, '--tlskey', certs.serverKey, ...extra];

test('tls:// with a CA file: publish, subscribe and request over TLS (nats-server --tls)', { timeout: 8000, skip: noNats }, async () => {
  const server = await startNatsServer(natsTls());
  try {
    const c = await connect({ url: `tls://127.0.0.1:${server.port}`, tls: { caFile: certs.ca } });
    try {
      assert.equal(c.isSecure, true);
      assert.equal(c.info?.tls_required, true);
      const sub = c.subscribe('orders.>');
      const svc = c.subscribe('math.double', { callback: (_e, m) => m?.respond(String(2 * Number(m.string()))) });
      c.publish('orders.eu', 'over tls', { headers: { 'X-Id': '7' } });
      const msg = await nextMsg(sub);
      assert.equal(msg.string(), 'over tls');
      assert.equal(msg.headers?.get('X-Id'), '7');
      assert.equal((await c.request('math.double', '21', { timeout: 2000 })).string(), '42');
      svc.unsubscribe();
    } finally {
      await c.close();
    }
    // The CA as PEM text or a Buffer works as well as a file.
    for (const ca of [readFileSync(certs.ca), readFileSync(certs.ca, 'utf8')]) {
      const c2 = await connect({ url: `tls://localhost:${server.port}`, tls: { ca } });
      await c2.flush();
      assert.equal(c2.isSecure, true);
      await c2.close();
    }
  } finally {
    await server.stop();
  }
});

test('a nats:// connection is upgraded when INFO says tls_required; no CA means an untrusted server', { timeout: 8000, skip: noNats }, async () => {
  const server = await startNatsServer(natsTls());
  try {
    const c = await connect({ url: `nats://127.0.0.1:${server.port}`, tls: { ca: readFileSync(certs.ca) } });
    assert.equal(c.isSecure, true);
    await c.close();
    // No TLS options: the client still upgrades (INFO asks for it) and checks the certificate
    // against Node's bundled CAs, which do not know the test CA.
    await assert.rejects(connect({ port: server.port, reconnect: false }), (err) => {
      assert.ok(err instanceof TlsError, String(err));
      assert.equal(err.code, 'TLS_ERROR');
      assert.match(err.message, /not signed by a CA this client trusts/);
      assert.match(String(err.cause?.code), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
      return true;
    });
    // Another CA, and a certificate for another name.
    await assert.rejects(connect({ port: server.port, tls: { caFile: certs.otherCa } }), TlsError);
    await assert.rejects(connect({ port: server.port, tls: { caFile: certs.ca, servername: 'docket.example.com' } }), (err) => {
      assert.ok(err instanceof TlsError);
      assert.equal(err.cause?.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
      return true;
    });
    // tls: false refuses a server that requires TLS.
    await assert.rejects(connect({ port: server.port, tls: false }), /requires TLS .*tls: false/);
    // rejectUnauthorized: false (testing only) accepts any certificate.
    const loose = await connect({ port: server.port, tls: { rejectUnauthorized: false } });
    assert.equal(loose.isSecure, true);
    await loose.close();
  } finally {
    await server.stop();
  }
});

test('mutual TLS: a client certificate from files or buffers; none (INFO says tls_verify) or a foreign one fails', { timeout: 8000, skip: noNats }, async () => {
  const server = await startNatsServer(natsTls(['--tlsverify', '--tlscacert', certs.ca]));
  try {
    const fromFiles = await connect({ port: server.port, tls: { caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey } });
    const fromBuffers = await connect({
      url: `tls://127.0.0.1:${server.port}`,
      tls: { ca: readFileSync(certs.ca), cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) },
    });
    try {
      const sub = fromBuffers.subscribe('mtls');
      await fromBuffers.flush();
      fromFiles.publish('mtls', 'both sides verified');
      assert.equal((await nextMsg(sub)).string(), 'both sides verified');
    } finally {
      await fromFiles.close();
      await fromBuffers.close();
    }
    const started = performance.now();
    await assert.rejects(connect({ port: server.port, tls: { caFile: certs.ca }, reconnect: false }), (err) => {
      assert.ok(err instanceof TlsError, String(err));
      assert.match(err.message, /requires a client certificate \(its INFO says tls_verify\)/);
      return true;
    });
    assert.ok(performance.now() - started < 3000, 'the refusal comes at once, not after a timeout');
    // A client certificate the server's CA did not sign: the server refuses it in the handshake.
    const stranger = makeCerts();
    try {
      await assert.rejects(
        connect({ port: server.port, tls: { caFile: certs.ca, certFile: stranger.clientCert, keyFile: stranger.clientKey } }),
        (err) => err instanceof TlsError && /the server refused the client certificate/.test(err.message),
      );
    } finally {
      stranger.cleanup();
    }
  } finally {
    await server.stop();
  }
});

test('a client that asks for TLS never talks in the clear to a server without it', { timeout: 8000 }, async () => {
  const fake = await fakeServer();
  try {
    await assert.rejects(connect({ url: `tls://127.0.0.1:${fake.port}`, token: 's3cret' }), (err) => {
      assert.ok(err instanceof TlsError);
      assert.match(err.message, /does not offer TLS/);
      return true;
    });
    await assert.rejects(connect({ port: fake.port, tls: true, user: 'a', pass: 'b' }), TlsError);
    // A worker retries (the server may get TLS), logging the failure at error.
    const logger = quietLogger();
    const worker = new Worker({
      port: fake.port, tls: true, token: 's3cret', queues: 'q', handler: () => {}, handleSignals: false, logger,
      maxReconnectAttempts: 2, reconnectDelayMs: 10,
    });
    await assert.rejects(within(worker.start(), 3000, 'start'), TlsError);
    assert.ok(logger.lines.some((l) => /^error docket worker: cannot connect to 127\.0\.0\.1:\d+ \(TLS_ERROR: .*does not offer TLS/.test(l)), logger.lines.join('\n'));
    assert.deepEqual(fake.connects, [], 'no CONNECT (and no credentials) went out in the clear');
  } finally {
    await fake.close();
  }
});

test('tlsHandshakeFirst: TLS before INFO (a scripted TLS server); against a plain server it fails', { timeout: 8000, skip: noTls }, async () => {
  /** @type {string[]} */
  const lines = [];
  const server = tls.createServer({ key: readFileSync(certs.serverKey), cert: readFileSync(certs.serverCert) }, (socket) => {
    socket.on('error', () => {});
    // Handshake first: the server speaks only once TLS is up.
    socket.write(`INFO ${JSON.stringify({ server_id: 'TLSFIRST', version: '2.9.0', proto: 1, headers: true, max_payload: 1048576, tls_required: true })}\r\n`);
    let buf = '';
    socket.on('data', (d) => {
      buf += d.toString('utf8');
      let nl;
      while ((nl = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        lines.push(line);
        if (line === 'PING') socket.write('PONG\r\n');
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', () => r(undefined)));
  const port = /** @type {net.AddressInfo} */ (server.address()).port;
  try {
    const c = await connect({ port, tlsHandshakeFirst: true, tls: { caFile: certs.ca } });
    assert.equal(c.isSecure, true);
    assert.equal(c.info?.server_id, 'TLSFIRST');
    await c.flush();
    await c.close();
    const connectLine = lines.find((l) => l.startsWith('CONNECT '));
    assert.equal(JSON.parse(connectLine?.slice(8) ?? '{}').tls_required, true);
    // tls.handshakeFirst is the same option.
    const c2 = await connect({ url: `tls://localhost:${port}`, tls: { ca: readFileSync(certs.ca), handshakeFirst: true } });
    await c2.close();
  } finally {
    await new Promise((r) => server.close(() => r(undefined)));
  }
  // A server that sends INFO in the clear first is not a TLS server to this client.
  const plain = await fakeServer();
  try {
    await assert.rejects(connect({ port: plain.port, tlsHandshakeFirst: true, tls: { caFile: certs.ca }, connectTimeoutMs: 2000 }), TlsError);
    assert.deepEqual(plain.connects, []);
  } finally {
    await plain.close();
  }
});

test('a TLS client reconnects over TLS after the server restarts', { timeout: 9000, skip: noNats }, async () => {
  let server = await startNatsServer(natsTls());
  const port = server.port;
  const c = await connect({ port, tls: { caFile: certs.ca }, reconnectDelayMs: 20, maxReconnectDelayMs: 100 });
  try {
    const sub = c.subscribe('again');
    const reconnected = new Promise((r) => c.once('reconnect', r));
    await server.stop();
    server = await startNatsServer(['-p', String(port), ...natsTls()]);
    await within(reconnected, 5000, 'reconnect');
    assert.equal(c.isSecure, true);
    c.publish('again', 'after the restart');
    assert.equal((await nextMsg(sub)).string(), 'after the restart');
  } finally {
    await c.close();
    await server.stop();
  }
});

test('TLS options: files read once, bad ones refused before connecting, the key never shown', { skip: noTls }, async () => {
  assert.throws(() => new Client({ tls: { caFile: '/nonexistent/ca.pem' } }), (e) => e instanceof InvalidArgument && /tls\.caFile/.test(e.message));
  assert.throws(() => new Client({ tls: { certFile: certs.clientCert } }), /needs both tls\.cert/);
  assert.throws(() => new Client({ tls: { ca: 'x', caFile: certs.ca } }), /not both/);
  assert.throws(() => new Client({ tls: { certFile: certs.clientCert, keyFile: certs.serverKey } }), (e) => e instanceof InvalidArgument && /invalid TLS options/.test(e.message));
  assert.throws(() => new Client({ url: 'tls://127.0.0.1:4222', tls: false }), InvalidArgument);
  assert.throws(() => new Client({ tlsHandshakeFirst: 'yes' }), InvalidArgument);
  const key = readFileSync(certs.clientKey, 'utf8');
  const c = new Client({ tls: { caFile: certs.ca, cert: readFileSync(certs.clientCert), key, passphrase: 'pw' } });
  assert.equal(c.options.tls.key, '***');
  assert.equal(c.options.tls.passphrase, '***');
  assert.equal(c.options.tls.caFile, certs.ca);
  assert.ok(!inspect(c, { depth: 5 }).includes(key.split('\n')[1]));
  const w = new Worker({ queues: 'q', handler: () => {}, handleSignals: false, logger: null, tls: { keyFile: certs.clientKey, certFile: certs.clientCert, key: undefined } });
  assert.equal(w.connection.tls.keyFile, certs.clientKey, 'a file name is not a secret');
  const w2 = new Worker({ queues: 'q', handler: () => {}, handleSignals: false, logger: null, connection: { tls: { key, cert: readFileSync(certs.clientCert) } } });
  assert.equal(w2.connection.tls.key, '***');
  assert.ok(!inspect(w2, { depth: 6 }).includes(key.split('\n')[1]));
});

// ---------------------------------------------------------------------------------------------
// docketd with TLS (the server gains --tls during this session; until then these skip)

const help = (() => {
  try {
    const r = spawnSync(DOCKETD, ['--help'], { encoding: 'utf8', timeout: 5000 });
    return `${r.stdout ?? ''}${r.stderr ?? ''}`;
  } catch {
    return '';
  }
})();
/** The first of these flags the binary's --help lists. @param {string[]} names */
const flag = (...names) => names.find((n) => new RegExp(`(^|\\s)${n.replace(/-/g, '\\-')}[\\s=<]`).test(help)) ?? null;
const docketdFlags = {
  tls: flag('--tls'),
  cert: flag('--tlscert', '--tls-cert'),
  key: flag('--tlskey', '--tls-key'),
  ca: flag('--tlscacert', '--tls-ca-cert', '--tls-ca', '--tlsca'),
  verify: flag('--tlsverify', '--tls-verify'),
  first: flag('--tls-handshake-first', '--tlshandshakefirst', '--tls_handshake_first'),
};
const noDocketdTls = noTls
  ? noTls
  : !help
    ? `cannot run ${DOCKETD} --help`
    : !docketdFlags.tls
      ? `docketd at ${DOCKETD} has no --tls yet (its --help does not list it)`
      : !docketdFlags.cert || !docketdFlags.key
        ? 'docketd --help lists --tls but no certificate/key flag this test knows (--tlscert/--tls-cert, --tlskey/--tls-key)'
        : false;

/** docketd's TLS flags. @param {{verify?: boolean, first?: boolean}} [o] */
function docketdTlsArgs(o = {}) {
  const args = [];
  // --tls may be a switch (as nats-server's) or take a value; a switch is what --help shows as `--tls ` without <…>.
  if (!new RegExp(`${docketdFlags.tls}\\s+<`).test(help)) args.push(/** @type {string} */ (docketdFlags.tls));
  args.push(/** @type {string} */ (docketdFlags.cert), certs.serverCert, /** @type {string} */ (docketdFlags.key), certs.serverKey);
  if (o.verify) {
    if (docketdFlags.ca) args.push(docketdFlags.ca, certs.ca);
    if (docketdFlags.verify) args.push(docketdFlags.verify);
  }
  if (o.first && docketdFlags.first) args.push(docketdFlags.first);
  return args;
}

test('docketd over TLS: jobs, a worker, events', { timeout: 9000, skip: noDocketdTls }, async () => {
  const server = await startServer({ args: docketdTlsArgs() });
  const c = await connect({ url: `tls://127.0.0.1:${server.port}`, tls: { caFile: certs.ca } });
  const worker = new Worker({
    url: `tls://localhost:${server.port}`,
    tls: { caFile: certs.ca },
    queues: 'secure',
    reserveTimeoutMs: 200,
    handleSignals: false,
    logger: quietLogger(),
    handler: (job) => `done ${job.text()}`,
  });
  try {
    assert.equal(c.isSecure, true);
    const events = c.events('secure', { events: ['completed'] });
    await c.flush();
    const { id } = await c.enqueue('secure', 'x');
    await worker.start();
    const out = await c.wait(id, { timeout: '5s' });
    assert.equal(out.state, 'completed');
    assert.equal(out.result?.toString(), 'done x');
    const ev = await within(events[Symbol.asyncIterator]().next(), 3000, 'completed event');
    assert.equal(ev.value.id, id);
  } finally {
    await worker.stop();
    await c.close();
    await server.cleanup();
  }
});

test('docketd with mutual TLS: a client certificate is required', { timeout: 9000, skip: noDocketdTls || (!docketdFlags.verify && 'docketd --help lists no --tlsverify/--tls-verify') }, async () => {
  const server = await startServer({ args: docketdTlsArgs({ verify: true }) });
  try {
    const c = await connect({ port: server.port, tls: { caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey } });
    await c.enqueue('mtls', 'x');
    await c.close();
    await assert.rejects(connect({ port: server.port, tls: { caFile: certs.ca }, reconnect: false }), TlsError);
  } finally {
    await server.cleanup();
  }
});

test('docketd with TLS handshake first', { timeout: 9000, skip: noDocketdTls || (!docketdFlags.first && 'docketd --help lists no TLS handshake-first flag') }, async () => {
  const server = await startServer({ args: docketdTlsArgs({ first: true }) });
  try {
    const c = await connect({ port: server.port, tlsHandshakeFirst: true, tls: { caFile: certs.ca } });
    assert.equal(c.isSecure, true);
    await c.enqueue('first', 'x');
    await c.close();
  } finally {
    await server.cleanup();
  }
  if (!docketdFlags.verify) return;
  // Handshake first with mutual TLS: INFO comes only after TLS, so a missing client certificate
  // is the server's refusal in the handshake.
  const strict = await startServer({ args: docketdTlsArgs({ first: true, verify: true }) });
  try {
    const c = await connect({ port: strict.port, tlsHandshakeFirst: true, tls: { caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey } });
    await c.flush();
    await c.close();
    await assert.rejects(connect({ port: strict.port, tlsHandshakeFirst: true, tls: { caFile: certs.ca }, reconnect: false }), (err) => {
      assert.ok(err instanceof TlsError, String(err));
      assert.match(err.message, /client certificate/);
      return true;
    });
  } finally {
    await strict.cleanup();
  }
});
