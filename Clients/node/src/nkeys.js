// NATS NKEY seeds and nsc `.creds` files: what NKEY users and operator-mode (JWT) users log in with.
//
// A printed user seed (`SU…`, 58 characters) is RFC 4648 base32 of two prefix bytes ('S', then the
// kind of key: 'U' for a user), the 32-byte Ed25519 seed and a CRC-16/XMODEM of those 34 bytes,
// little-endian. The seed signs the nonce of the server's INFO; the server never sees it. Ed25519
// comes from node:crypto, which takes a raw seed only inside a PKCS #8 document.

import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { InvalidArgument } from './errors.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
/** 'S' in the top five bits of a seed's first byte; 'U' (a user) as a public key's prefix byte. */
const SEED_PREFIX = 18 << 3;
export const USER_PREFIX = 20 << 3;
const SEED_LENGTH = 58;
/** PKCS #8 for an Ed25519 private key (RFC 8410), up to the 32 bytes of the seed. */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const JWT_BLOCK = 'NATS USER JWT';
const SEED_BLOCK = 'USER NKEY SEED';
const MARKER = /^-{3,}\s*(BEGIN|END)\s+([A-Z][A-Z ]*?)\s*-{3,}$/;
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** @param {Uint8Array} bytes @returns {number} */
export function crc16Xmodem(bytes) {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = (crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1) & 0xffff;
  }
  return crc;
}

/**
 * Unpadded base32; null for a character outside the alphabet or non-zero trailing bits (which
 * would give one key several spellings).
 * @param {string} text @returns {Buffer|null}
 */
export function base32Decode(text) {
  const out = [];
  let bits = 0;
  let count = 0;
  for (const char of text) {
    const value = ALPHABET.indexOf(char);
    if (value < 0) return null;
    bits = ((bits << 5) | value) & 0xffff;
    count += 5;
    if (count >= 8) {
      count -= 8;
      out.push((bits >> count) & 0xff);
    }
  }
  if (count >= 5 || (bits & ((1 << count) - 1)) !== 0) return null;
  return Buffer.from(out);
}

/** @param {Uint8Array} bytes @returns {string} unpadded base32 */
export function base32Encode(bytes) {
  let out = '';
  let bits = 0;
  let count = 0;
  for (const byte of bytes) {
    bits = ((bits << 8) | byte) & 0xffff;
    count += 8;
    while (count >= 5) {
      count -= 5;
      out += ALPHABET[(bits >> count) & 31];
    }
  }
  if (count > 0) out += ALPHABET[(bits << (5 - count)) & 31];
  return out;
}

/**
 * A key as NATS prints it: base32 of the prefix byte(s), the key and the checksum.
 * @param {Uint8Array} prefix @param {Uint8Array} key @returns {string}
 */
export function printedKey(prefix, key) {
  const raw = Buffer.concat([prefix, key]);
  const crc = Buffer.alloc(2);
  crc.writeUInt16LE(crc16Xmodem(raw));
  return base32Encode(Buffer.concat([raw, crc]));
}

/**
 * The 32-byte Ed25519 seed of a printed user seed; InvalidArgument saying what is wrong otherwise
 * (never quoting the seed).
 * @param {string} printed @returns {Buffer}
 */
export function decodeUserSeed(printed) {
  if (typeof printed !== 'string') throw new InvalidArgument('an NKEY seed must be a string');
  const text = printed.trim();
  const why = (/** @type {string} */ reason) => new InvalidArgument(`not a NATS user seed (SU…): ${reason}`);
  if (text.length !== SEED_LENGTH) throw why(`it is ${text.length} characters long, and a seed is ${SEED_LENGTH}`);
  const raw = base32Decode(text);
  if (raw === null || raw.length !== 36) throw why('it is not base32 (A-Z and 2-7 only)');
  if (crc16Xmodem(raw.subarray(0, 34)) !== raw.readUInt16LE(34)) {
    throw why('its checksum does not match (a typo, or a truncated copy)');
  }
  if ((raw[0] & 0xf8) !== SEED_PREFIX) throw why('it is not a seed (a seed starts with S)');
  if ((raw[0] & 0x07) !== USER_PREFIX >> 5 || raw[1] !== (USER_PREFIX & 0x1f) << 3) {
    throw why("it is not a user's seed, it is another kind of key's");
  }
  return raw.subarray(2, 34);
}

/** Ed25519 key objects of each seed, off the seed objects so that nothing that prints them shows the key. @type {WeakMap<NKeySeed, import('node:crypto').KeyObject>} */
const privateKeyOf = new WeakMap();

/** A NATS user's seed, read and checked; signs nonces. Printing it shows the public key only. */
export class NKeySeed {
  /** @param {string} printed a user seed (`SU…`); blanks around it are ignored */
  constructor(printed) {
    const seed = decodeUserSeed(printed);
    const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    privateKeyOf.set(this, key);
    const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
    /** the user's public key, as CONNECT's `nkey` and the server's configuration spell it (`U…`) */
    this.publicKey = printedKey(Buffer.from([USER_PREFIX]), spki.subarray(spki.length - 32));
  }

  /** @param {string} path a file holding the seed alone (`nk -gen user > user.nk`) @returns {NKeySeed} */
  static fromFile(path) {
    return parseSecretFile(path, 'NKEY seed file', (text) => new NKeySeed(text));
  }

  /** CONNECT's `sig`: the signature of the nonce's characters, unpadded base64url. @param {string} nonce */
  sign(nonce) {
    return sign(null, Buffer.from(nonce, 'utf8'), /** @type {any} */ (privateKeyOf.get(this))).toString('base64url');
  }

  toString() {
    return `NKEY seed of ${this.publicKey}`;
  }
}

/**
 * `parse` of a small file holding a secret; errors name the file, never quote its contents.
 * @template T @param {string} path @param {string} what @param {(text: string) => T} parse @returns {T}
 */
function parseSecretFile(path, what, parse) {
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InvalidArgument(`${what} ${path}: ${/** @type {NodeJS.ErrnoException} */ (err).code ?? String(err)}`);
  }
  try {
    return parse(text);
  } catch (err) {
    if (err instanceof InvalidArgument) throw new InvalidArgument(`${what} ${path}: ${err.message}`);
    throw err;
  }
}

/**
 * Each `BEGIN <name>` … `END <name>` block's content by name (lines trimmed, blank ones dropped).
 * Markers are read leniently (3 or more dashes, blanks around); an END of another name does not
 * close a block.
 * @param {string} text @returns {Map<string, string>}
 */
export function credsBlocks(text) {
  const found = new Map();
  /** @type {string|null} */
  let name = null;
  /** @type {string[]} */
  let lines = [];
  for (const line of text.split(/\r\n|\r|\n/)) {
    const marker = MARKER.exec(line.trim());
    if (marker) {
      if (marker[1] === 'BEGIN') {
        name = marker[2];
        lines = [];
      } else if (marker[2] === name) {
        if (!found.has(name)) found.set(name, lines.filter((l) => l !== '').join('\n'));
        name = null;
      }
    } else if (name !== null) {
      lines.push(line.trim());
    }
  }
  return found;
}

/**
 * An nsc `.creds` file: the user JWT and the seed that signs for it.
 * @param {string} text @returns {{jwt: string, seed: NKeySeed}}
 */
export function parseCreds(text) {
  const blocks = credsBlocks(text);
  const jwt = blocks.get(JWT_BLOCK);
  if (jwt === undefined) throw new InvalidArgument(`no user JWT (no -----BEGIN ${JWT_BLOCK}----- block)`);
  const seed = blocks.get(SEED_BLOCK);
  if (seed === undefined) throw new InvalidArgument(`no user seed (no -----BEGIN ${SEED_BLOCK}----- block)`);
  if (!JWT.test(jwt)) throw new InvalidArgument('the user JWT block does not hold one JWT (three base64url parts joined by dots)');
  return { jwt, seed: new NKeySeed(seed) };
}

/** @param {string} path @returns {{jwt: string, seed: NKeySeed}} */
export function readCreds(path) {
  return parseSecretFile(path, 'creds file', parseCreds);
}
