// NATS keys and JWTs made for a test: an operator, its accounts and their users, as nsc would issue
// them (version 2 claims, nsc's "no limit" defaults), from fresh Ed25519 keys.

import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';

import { printedKey, USER_PREFIX } from '../src/nkeys.js';

const PREFIXES = { operator: 14 << 3, account: 0, user: USER_PREFIX };
const SEED_PREFIX = 18 << 3;

// -1 is no limit; a version 2 JWT that leaves a limit out means zero.
const NSC_DEFAULTS = {
  operator: {},
  account: { limits: { subs: -1, conn: -1, leaf: -1, imports: -1, exports: -1, data: -1, payload: -1, wildcards: true } },
  user: { subs: -1, data: -1, payload: -1 },
};

/** @param {unknown} value */
const b64url = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

export class NatsIdentity {
  /** @param {'operator'|'account'|'user'} kind */
  constructor(kind) {
    this.kind = kind;
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    this.privateKey = privateKey;
    const jwk = publicKey.export({ format: 'jwk' });
    this.publicKey = printedKey(Buffer.from([PREFIXES[kind]]), Buffer.from(/** @type {string} */ (jwk.x), 'base64url'));
    const rawSeed = Buffer.from(/** @type {string} */ (privateKey.export({ format: 'jwk' }).d), 'base64url');
    const kindBits = PREFIXES[kind];
    /** the printed seed (`SU…` for a user) */
    this.seed = printedKey(Buffer.from([SEED_PREFIX | (kindBits >> 5), (kindBits & 31) << 3]), rawSeed);
  }

  /** A JWT about `subject`, signed by this identity. @param {NatsIdentity} subject @param {string} name */
  jwt(subject, name) {
    const claims = {
      jti: randomBytes(16).toString('base64url'),
      iat: Math.floor(Date.now() / 1000),
      iss: this.publicKey,
      name,
      sub: subject.publicKey,
      nats: { type: subject.kind, version: 2, ...NSC_DEFAULTS[subject.kind] },
    };
    const signed = `${b64url({ typ: 'JWT', alg: 'ed25519-nkey' })}.${b64url(claims)}`;
    return `${signed}.${sign(null, Buffer.from(signed), this.privateKey).toString('base64url')}`;
  }
}

/** A .creds file's text, as nsc writes them. @param {string} jwt @param {NatsIdentity} user */
export function credsText(jwt, user) {
  return `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n`
    + `************************* IMPORTANT *************************\nNKEY Seed printed below.\n\n`
    + `-----BEGIN USER NKEY SEED-----\n${user.seed}\n------END USER NKEY SEED------\n`;
}

/** An operator with one preloaded account: a docketd configuration in operator mode, and its users. */
export class OperatorSetup {
  constructor() {
    this.operator = new NatsIdentity('operator');
    this.account = new NatsIdentity('account');
  }

  config() {
    return `operator: ${this.operator.jwt(this.operator, 'op')}\nresolver: MEMORY\n`
      + `resolver_preload: {\n  ${this.account.publicKey}: "${this.operator.jwt(this.account, 'acme')}"\n}\n`;
  }

  /** A new user of the account: its .creds file's text. @param {string} [name] */
  userCreds(name = 'u') {
    const user = new NatsIdentity('user');
    return credsText(this.account.jwt(user, name), user);
  }
}
