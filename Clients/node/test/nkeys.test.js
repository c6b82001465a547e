// NKEY seeds and nsc .creds files: the pure parts on bytes the tests make, then logins to a real
// docketd with NKEY users and in operator mode (keys and JWTs made fresh by testkit/nats-keys.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';

import { AuthorizationError, Client, connect, InvalidArgument } from '../src/index.js';
import { base32Decode, NKeySeed, parseCreds, printedKey } from '../src/nkeys.js';
import { credsText, NatsIdentity, OperatorSetup } from '../testkit/nats-keys.js';
import { startServer, waitFor, within } from '../testkit/helpers.js';

for (const name of ['DOCKET_USER', 'DOCKET_PASS', 'DOCKET_TOKEN', 'DOCKET_NKEY_SEED_FILE', 'DOCKET_CREDS']) delete process.env[name];

// nats.py's test seed and the public key nats-server's server_auth_nkey.conf names for it.
const KNOWN_SEED = 'SUAEIV5COV7ADQZE52WTYHVJQRV7WKJE5J7IBBJGATJTUUT2LVFGVXDPRQ';
const KNOWN_PUBLIC_KEY = 'UBABIZX6SZFAKHK2KGUFD6QH53FDAH5QVCH2R5MJLFPEVYAW22QWQQCX';
const JWT = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJVIn0.c2ln';

/** A temporary directory for the test, removed at its end. @param {import('node:test').TestContext} t */
function tempDir(t) {
  const dir = mkdtempSync(path.join(tmpdir(), 'docket-nkeys-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The error `fn` throws. @param {() => unknown} fn */
function thrown(fn) {
  try {
    fn();
  } catch (err) {
    return /** @type {Error} */ (err);
  }
  assert.fail('nothing was thrown');
}

test('a user seed makes its public key and signs the nonce', () => {
  const seed = new NKeySeed(`${KNOWN_SEED}\n`);
  assert.equal(seed.publicKey, KNOWN_PUBLIC_KEY);
  for (const shown of [inspect(seed), JSON.stringify(seed), String(seed)]) assert.ok(!shown.includes(KNOWN_SEED));
  const raw = /** @type {Buffer} */ (base32Decode(KNOWN_PUBLIC_KEY)).subarray(1, 33);
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
  const sig = seed.sign('a-nonce');
  assert.ok(!sig.includes('='));
  assert.ok(verify(null, Buffer.from('a-nonce'), publicKey, Buffer.from(sig, 'base64url')));
  const fresh = new NatsIdentity('user');
  assert.equal(new NKeySeed(fresh.seed).publicKey, fresh.publicKey);
});

test('a malformed seed is refused saying why, never quoting it', () => {
  const accountSeed = printedKey(Buffer.from([18 << 3, 0]), Buffer.alloc(32, 7));
  assert.ok(accountSeed.startsWith('SA'));
  for (const [printed, why] of [
    [KNOWN_SEED.slice(0, -1), '58'],
    [`${KNOWN_SEED.slice(0, -1)}A`, 'checksum'],
    [`${KNOWN_SEED.slice(0, -1)}1`, 'base32'],
    [KNOWN_SEED.toLowerCase(), 'base32'],
    [KNOWN_PUBLIC_KEY, '58'],
    [accountSeed, "not a user's seed"],
  ]) {
    const err = thrown(() => new NKeySeed(printed));
    assert.ok(err instanceof InvalidArgument);
    assert.match(err.message, new RegExp(why));
    assert.ok(!err.message.includes(printed));
  }
});

test('creds are read leniently about their markers and strictly about their contents', () => {
  const user = new NatsIdentity('user');
  const nsc = parseCreds(credsText(JWT, user));
  assert.equal(nsc.jwt, JWT);
  assert.equal(nsc.seed.publicKey, user.publicKey);
  const loose = `\r\n  ---BEGIN NATS USER JWT---  \r\n\t${JWT}  \r\n---END NATS USER JWT------------\r\n`
    + `--------BEGIN USER NKEY SEED-----\r\n  ${KNOWN_SEED}\r\n-----END USER NKEY SEED-----`;
  assert.equal(parseCreds(loose).seed.publicKey, KNOWN_PUBLIC_KEY);
  const seedBlock = `-----BEGIN USER NKEY SEED-----\n${KNOWN_SEED}\n------END USER NKEY SEED------\n`;
  const jwtBlock = `-----BEGIN NATS USER JWT-----\n${JWT}\n------END NATS USER JWT------\n`;
  for (const [text, why] of [
    [seedBlock, 'no user JWT'],
    [jwtBlock, 'no user seed'],
    ['', 'no user JWT'],
    [jwtBlock.replace(JWT, 'not a jwt') + seedBlock, 'one JWT'],
    [jwtBlock.replace(JWT, `${JWT}\n${JWT}`) + seedBlock, 'one JWT'],
    [jwtBlock + seedBlock.replace('\n------END', 'X\n------END'), 'user seed'],
    [jwtBlock + seedBlock.replace(KNOWN_SEED, KNOWN_PUBLIC_KEY), 'user seed'],
    [`${jwtBlock}-----BEGIN USER NKEY SEED-----\n${KNOWN_SEED}\n------END NATS USER JWT------\n`, 'no user seed'],
  ]) {
    const err = thrown(() => parseCreds(text));
    assert.ok(err instanceof InvalidArgument, text);
    assert.ok(err.message.includes(why), `${err.message}: ${text}`);
    assert.ok(!err.message.includes(KNOWN_SEED));
  }
});

test('a malformed seed or creds file is refused before connecting', (t) => {
  const dir = tempDir(t);
  const broken = path.join(dir, 'user.nk');
  writeFileSync(broken, `${KNOWN_SEED.slice(0, -1)}A\n`);
  const notCreds = path.join(dir, 'user.creds');
  writeFileSync(notCreds, KNOWN_SEED);
  const port = 1;
  assert.match(thrown(() => new Client({ port, nkeySeedFile: broken })).message, /NKEY seed file .*user\.nk: .*checksum/);
  assert.match(thrown(() => new Client({ port, credsFile: notCreds })).message, /creds file .*user\.creds: no user JWT/);
  assert.match(thrown(() => new Client({ port, credsFile: path.join(dir, 'none.creds') })).message, /none\.creds: ENOENT/);
  assert.match(thrown(() => new Client({ port, token: 't', nkeySeed: KNOWN_SEED })).message, /one way to log in/);
  process.env.DOCKET_CREDS = notCreds;
  try {
    assert.ok(thrown(() => new Client({ port })) instanceof InvalidArgument);
  } finally {
    delete process.env.DOCKET_CREDS;
  }
});

/**
 * Starts docketd with this configuration file, logs in, restarts the server on the same port and
 * data directory and expects the client to log in again (a new process makes new nonces: only a
 * fresh signature gets in). Returns the second server, running.
 * @param {import('node:test').TestContext} t @param {string} config @param {Record<string, string>} options
 */
async function expectLoginAgainAfterARestart(t, config, options) {
  const dir = tempDir(t);
  const configFile = path.join(dir, 'docket.conf');
  writeFileSync(configFile, config);
  const args = ['-c', configFile];
  const first = await startServer({ args });
  const c = await within(connect({ port: first.port, ...options }), 3000, 'connect');
  let second;
  try {
    assert.equal((await c.enqueue('q', 'before')).id, 1);
    await first.stop();
    second = await startServer({ port: first.port, dataDir: first.dataDir, args });
    await waitFor(() => c.isConnected && c.reconnects === 1, 5000, 'reconnect');
    assert.equal((await c.enqueue('q', 'after')).id, 2);
  } catch (err) {
    // The two servers share the data directory: whichever ran last removes it.
    await (second ?? first).cleanup();
    throw err;
  } finally {
    await c.close();
  }
  t.after(() => second.cleanup());
  return { server: second, dir };
}

test('an NKEY user logs in, from a seed or a seed file, and again after a reconnect', { timeout: 20_000 }, async (t) => {
  const alice = new NatsIdentity('user');
  const mallory = new NatsIdentity('user');
  const config = `authorization { users = [ { nkey: ${alice.publicKey} } ] }\n`;
  const { server, dir } = await expectLoginAgainAfterARestart(t, config, { nkeySeed: alice.seed });
  const seedFile = path.join(dir, 'alice.nk');
  writeFileSync(seedFile, `${alice.seed}\n`);
  const c = await within(connect({ port: server.port, nkeySeedFile: seedFile }), 3000, 'connect');
  assert.ok(!inspect(c).includes(alice.seed) && !JSON.stringify(c.options).includes(alice.seed));
  await c.close();
  process.env.DOCKET_NKEY_SEED_FILE = seedFile;
  try {
    await (await within(connect({ port: server.port }), 3000, 'connect')).close();
  } finally {
    delete process.env.DOCKET_NKEY_SEED_FILE;
  }
  const refused = await connect({ port: server.port, nkeySeed: mallory.seed }).then(() => null, (e) => e);
  assert.ok(refused instanceof AuthorizationError, String(refused));
  assert.match(refused.message, /Authorization Violation/);
  assert.ok(!refused.message.includes(mallory.seed));
});

test('a server without a nonce gets no signature', { timeout: 10_000 }, async (t) => {
  const server = await startServer({ args: ['--auth', 's3cret'] });
  t.after(() => server.cleanup());
  const err = await connect({ port: server.port, nkeySeed: KNOWN_SEED, reconnect: false }).then(() => null, (e) => e);
  assert.ok(err instanceof AuthorizationError, String(err));
  assert.match(err.message, /no nonce/);
});

test('a creds file logs in to a server in operator mode, and again after a reconnect', { timeout: 20_000 }, async (t) => {
  const setup = new OperatorSetup();
  const dir = tempDir(t);
  const credsFile = path.join(dir, 'u.creds');
  writeFileSync(credsFile, setup.userCreds());
  const { server } = await expectLoginAgainAfterARestart(t, setup.config(), { credsFile });
  process.env.DOCKET_CREDS = credsFile;
  try {
    await (await within(connect({ port: server.port }), 3000, 'connect')).close();
  } finally {
    delete process.env.DOCKET_CREDS;
  }
  const stranger = path.join(dir, 'stranger.creds');
  writeFileSync(stranger, new OperatorSetup().userCreds());
  const refused = await connect({ port: server.port, credsFile: stranger }).then(() => null, (e) => e);
  assert.ok(refused instanceof AuthorizationError, String(refused));
});
