// The Docket client: one TCP connection, pipelined commands, subscriptions, jobs, reconnects.
//
// Authentication: credentials go in CONNECT (`user`/`pass` or `auth_token`, as for nats-server; an
// NKEY user's `nkey` and `sig`, or operator mode's `jwt` and `sig`) on every connection, reconnects
// included; a seed signs each connection's own nonce. They come from the first of: the
// `user`/`pass`/`token`/`nkeySeed`/`nkeySeedFile`/`credsFile` options, the `url`
// (`nats://user:pass@host:4222`, `nats://token@host:4222`), the environment (DOCKET_USER/DOCKET_PASS,
// DOCKET_TOKEN, DOCKET_NKEY_SEED_FILE, DOCKET_CREDS). They are kept off the client object (in a
// WeakMap), so util.inspect, JSON.stringify and `client.options` never show the password, token or seed.
//
// TLS, as NATS clients do it: a `tls://` url, `tls` options or `tlsHandshakeFirst` ask for it;
// the socket is upgraded in place (`tls.connect({socket})`) after the server's INFO when INFO
// says `tls_required` (also when the client did not ask), or TLS comes first, before INFO, with
// `tlsHandshakeFirst`. The private key and its passphrase are kept off the client too.

import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';

import { NKeySeed, readCreds } from './nkeys.js';
import {
  AuthorizationError,
  BufferFull,
  ConnectError,
  ConnectionClosed,
  ConnectionLost,
  InvalidArgument,
  NoResponders,
  PermissionError,
  ProtocolError,
  ServerError,
  TimeoutError,
  TlsError,
} from './errors.js';
import {
  PING,
  CANCEL,
  PONG,
  Parser,
  encodeAck,
  encodeBatch,
  encodeConnect,
  encodeDead,
  encodeDelete,
  encodeEnqueue,
  encodeFail,
  encodeHelp,
  encodeInspect,
  encodeList,
  encodeParents,
  encodeChildren,
  encodePause,
  encodePauseSchedule,
  encodePromote,
  encodePurge,
  encodeProgress,
  encodePublish,
  encodeQueue,
  encodeQueueSet,
  encodeQueues,
  encodeReserve,
  encodeResume,
  encodeResumeSchedule,
  encodeRetry,
  encodeRetryQueue,
  encodeRoute,
  encodeRoutes,
  encodeSchedule,
  encodeSchedules,
  encodeStats,
  encodeSub,
  encodeTouch,
  encodeUnroute,
  encodeUnschedule,
  encodeUnsub,
  encodeWait,
  checkOptionNames,
  checkQueue,
  isRoutedReply,
  parseRoutedReply,
  parseJson,
  durationMs,
  replyDecoders,
  route,
  toBytes,
} from './protocol.js';
import { Msg, Subscription } from './subscription.js';
import { clearTimer, setTimer } from './timers.js';

export const VERSION = '0.2.0';

/** Environment variables read for credentials when neither the options nor the url give any. */
export const ENV_USER = 'DOCKET_USER';
export const ENV_PASS = 'DOCKET_PASS';
export const ENV_TOKEN = 'DOCKET_TOKEN';
export const ENV_NKEY_SEED_FILE = 'DOCKET_NKEY_SEED_FILE';
export const ENV_CREDS = 'DOCKET_CREDS';

const REDACTED = '***';

/** Bytes a MSG/HMSG may have beyond the server's max_payload (headers the server adds) before it is a protocol error. */
export const MESSAGE_SIZE_MARGIN = 64 * 1024;
/** PONG bytes allowed to wait unwritten: a server that sends PINGs and does not read the answers is dropped past this. */
const MAX_UNWRITTEN_PONG_BYTES = 1024 * 1024;
/** TCP keep-alive: the first probe after this much idle time. */
const KEEPALIVE_DELAY_MS = 30_000;
const URL_SCHEMES = new Set(['nats:', 'docket:', 'tcp:', 'tls:']);

/**
 * @typedef {object} Credentials what goes into CONNECT to authenticate
 * @property {string} [user]
 * @property {string} [pass]
 * @property {string} [token]
 * @property {NKeySeed} [seed] an NKEY user's seed, or (with `jwt`) the seed of a .creds file: signs the nonce
 * @property {string} [jwt] operator mode: the user JWT
 * @property {string} source where they came from ('' when there are none)
 */

/** Each client's credentials, off the object so that nothing that prints a client shows them. @type {WeakMap<object, Credentials>} */
const credentialsOf = new WeakMap();

/**
 * A server URL with its password (`user:***@`) or token (`***@`) hidden.
 * @param {string} url
 * @returns {string}
 */
export function redactUrl(url) {
  const s = String(url);
  const schemeEnd = s.indexOf('://');
  const start = schemeEnd >= 0 ? schemeEnd + 3 : 0;
  let end = s.length;
  for (const stop of ['/', '?', '#']) {
    const at = s.indexOf(stop, start);
    if (at >= 0 && at < end) end = at;
  }
  const at = s.lastIndexOf('@', end - 1);
  if (at < start) return s;
  const userinfo = s.slice(start, at);
  const colon = userinfo.indexOf(':');
  const hidden = colon >= 0 ? `${userinfo.slice(0, colon)}:${REDACTED}` : REDACTED;
  return s.slice(0, start) + hidden + s.slice(at);
}

/**
 * Reads a server address: `nats://[user:pass@|token@]host[:port]`, or the same without the scheme
 * (`host:port`, `user:pass@host:port`). Schemes nats, docket, tcp and tls (`tls://` asks for TLS);
 * the port defaults to 4222.
 * @param {string} url
 * @returns {{host: string, port: number, user?: string, pass?: string, tls?: boolean}} a lone user is a token
 */
export function parseServerUrl(url) {
  if (typeof url !== 'string' || url === '') throw new InvalidArgument('url must be a non-empty string');
  const text = url.includes('://') ? url : `nats://${url}`;
  /** @type {URL} */
  let u;
  try {
    u = new URL(text);
  } catch {
    throw new InvalidArgument(`cannot read the server URL ${JSON.stringify(redactUrl(url))} (use nats://host:port)`);
  }
  if (!URL_SCHEMES.has(u.protocol)) {
    throw new InvalidArgument(`unsupported URL scheme ${JSON.stringify(u.protocol.slice(0, -1))} (use nats://host:port)`);
  }
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const port = u.port === '' ? 4222 : Number(u.port);
  /** @type {{host: string, port: number, user?: string, pass?: string, tls?: boolean}} */
  const out = { host, port };
  if (u.protocol === 'tls:') out.tls = true;
  try {
    if (u.username !== '') out.user = decodeURIComponent(u.username);
    if (u.password !== '' || /^[^/]*\/\/[^/@]*:@/.test(text)) out.pass = decodeURIComponent(u.password);
  } catch {
    throw new InvalidArgument(`bad percent-encoding in the credentials of ${JSON.stringify(redactUrl(url))}`);
  }
  return out;
}

/**
 * The credentials of a seed, a seed file or a .creds file (read and checked now, once).
 * @param {{nkeySeed?: string, nkeySeedFile?: string, credsFile?: string}} given @param {string} source
 * @returns {Credentials}
 */
function signingCredentials(given, source) {
  if (given.credsFile) return { ...readCreds(given.credsFile), source };
  if (given.nkeySeedFile) return { seed: NKeySeed.fromFile(given.nkeySeedFile), source };
  return { seed: new NKeySeed(given.nkeySeed ?? ''), source };
}

/**
 * The credentials to send: the first source that gives a non-empty user, token, seed or creds
 * file wins, as a whole.
 * @param {{user?: unknown, pass?: unknown, token?: unknown, nkeySeed?: unknown, nkeySeedFile?: unknown, credsFile?: unknown}} given the options
 * @param {{user?: string, pass?: string}} fromUrl
 * @param {NodeJS.ProcessEnv} env
 * @returns {Credentials}
 */
function resolveCredentials(given, fromUrl, env) {
  for (const key of /** @type {const} */ (['user', 'pass', 'token', 'nkeySeed', 'nkeySeedFile', 'credsFile'])) {
    if (given[key] !== undefined && given[key] !== null && typeof given[key] !== 'string') {
      throw new InvalidArgument(`${key} must be a string`);
    }
  }
  const user = /** @type {string|undefined} */ (given.user || undefined);
  const pass = /** @type {string|undefined} */ (given.pass ?? undefined);
  const token = /** @type {string|undefined} */ (given.token || undefined);
  if (pass && !user) throw new InvalidArgument('pass needs user');
  const signing = /** @type {const} */ (['nkeySeed', 'nkeySeedFile', 'credsFile']).filter((k) => given[k]);
  if (signing.length > 1 || (signing.length === 1 && (user || token))) {
    const kinds = [...(user ? ['user'] : []), ...(token ? ['token'] : []), ...signing];
    throw new InvalidArgument(`give one way to log in, not ${kinds.join(' and ')}`);
  }
  if (signing.length === 1) return signingCredentials(/** @type {any} */ (given), 'the options');
  if (user || token) return { user, pass, token, source: 'the options' };
  if (fromUrl.user && fromUrl.pass !== undefined) return { user: fromUrl.user, pass: fromUrl.pass, source: 'the url' };
  if (fromUrl.user) return { token: fromUrl.user, source: 'the url' };
  const envUser = env[ENV_USER] || undefined;
  const envToken = env[ENV_TOKEN] || undefined;
  if (envUser || envToken) {
    const source = [envUser && ENV_USER, envToken && ENV_TOKEN].filter(Boolean).join(' and ');
    return { user: envUser, pass: envUser ? env[ENV_PASS] : undefined, token: envToken, source };
  }
  if (env[ENV_NKEY_SEED_FILE]) return signingCredentials({ nkeySeedFile: env[ENV_NKEY_SEED_FILE] }, ENV_NKEY_SEED_FILE);
  if (env[ENV_CREDS]) return signingCredentials({ credsFile: env[ENV_CREDS] }, ENV_CREDS);
  return { source: '' };
}

/** @param {Credentials} c @returns {string} never the password, token or seed */
function describeCredentials(c) {
  if (!c.user && !c.token && !c.seed) return 'no credentials';
  const what = [];
  if (c.user) what.push(`user ${JSON.stringify(c.user)} with a password`);
  if (c.token) what.push('a token');
  if (c.seed) what.push(`${c.jwt ? 'the user JWT of' : 'NKEY user'} ${c.seed.publicKey}`);
  return `${what.join(' and ')} (from ${c.source})`;
}

/** @param {string} text */
function isAuthorizationViolation(text) {
  return text.trim().toLowerCase() === 'authorization violation';
}

/**
 * nats-server's `Permissions Violation for Subscription to "<subject>"[ using queue "<q>"]` and
 * `Permissions Violation for Publish to "<subject>"` (and any other `Permissions Violation …`).
 * @param {string} text
 * @returns {PermissionError|null}
 */
export function parsePermissionViolation(text) {
  if (!/^permissions violation\b/i.test(text.trim())) return null;
  const sub = /^Permissions Violation for Subscription to "?([^"\s]+)"?(?:\s+using queue "?([^"\s]+)"?)?\s*$/i.exec(text.trim());
  if (sub) return new PermissionError(text, 'subscribe', sub[1], sub[2] ?? null);
  const pub = /^Permissions Violation for Publish to "?([^"\s]+)"?\s*$/i.exec(text.trim());
  if (pub) return new PermissionError(text, 'publish', pub[1]);
  return new PermissionError(text, 'unknown', null);
}

/**
 * TLS settings: `ca`, `cert` and `key` as PEM (strings or Buffers) or read from `caFile`,
 * `certFile`, `keyFile`; every other key (`rejectUnauthorized`, `servername`, `passphrase`,
 * `minVersion`, `checkServerIdentity`, …) is passed to Node's `tls.connect` as is.
 * @typedef {object} TlsOptions
 * @property {string|Buffer|Array<string|Buffer>} [ca] trusted CA certificates (PEM); default: Node's bundled roots
 * @property {string} [caFile] a PEM file of CA certificates (read once, when the client is made)
 * @property {string|Buffer} [cert] the client certificate chain (PEM), for servers that verify clients
 * @property {string} [certFile]
 * @property {string|Buffer} [key] the client certificate's private key (PEM)
 * @property {string} [keyFile]
 * @property {string} [passphrase] of an encrypted key
 * @property {boolean} [rejectUnauthorized] default true: a server certificate that does not verify fails the connection
 * @property {string} [servername] the name to verify the server certificate against (default: the host, unless it is an IP address)
 * @property {boolean} [handshakeFirst] same as the `tlsHandshakeFirst` option
 */

/**
 * @typedef {object} TlsConfig the resolved TLS settings of a client (kept off the object)
 * @property {'off'|'auto'|'required'} mode off: `tls: false`, plain TCP only; auto: upgrade when the
 *   server's INFO says tls_required; required: TLS or no connection
 * @property {boolean} handshakeFirst TLS before INFO
 * @property {import('node:tls').ConnectionOptions} options for tls.connect
 */

/** Each client's TLS settings (the private key is among them). @type {WeakMap<object, TlsConfig>} */
const tlsOf = new WeakMap();

const TLS_SECRET_KEYS = ['key', 'passphrase', 'pfx'];

/**
 * @param {unknown} path @param {string} what
 * @returns {Buffer}
 */
function readPem(path, what) {
  if (typeof path !== 'string' || path === '') throw new InvalidArgument(`tls.${what} must be a file path`);
  try {
    return readFileSync(path);
  } catch (err) {
    throw new InvalidArgument(`cannot read tls.${what} ${JSON.stringify(path)}: ${/** @type {Error} */ (err).message}`);
  }
}

/**
 * @param {unknown} given the `tls` option: undefined, false, true, or TlsOptions
 * @param {boolean} fromUrl the url's scheme is tls://
 * @param {unknown} handshakeFirst the `tlsHandshakeFirst` option
 * @returns {TlsConfig}
 */
export function resolveTls(given, fromUrl, handshakeFirst) {
  if (handshakeFirst !== undefined && handshakeFirst !== null && typeof handshakeFirst !== 'boolean') {
    throw new InvalidArgument('tlsHandshakeFirst must be a boolean');
  }
  if (given === undefined || given === null) {
    const first = handshakeFirst === true;
    return { mode: fromUrl || first ? 'required' : 'auto', handshakeFirst: first, options: {} };
  }
  if (given === false) {
    if (fromUrl || handshakeFirst) throw new InvalidArgument('tls: false contradicts a tls:// url or tlsHandshakeFirst');
    return { mode: 'off', handshakeFirst: false, options: {} };
  }
  if (given === true) return { mode: 'required', handshakeFirst: handshakeFirst === true, options: {} };
  if (typeof given !== 'object' || Array.isArray(given)) throw new InvalidArgument('tls must be true, false, or an object of TLS options');
  const { caFile, certFile, keyFile, handshakeFirst: first2, ...options } = /** @type {TlsOptions & Record<string, unknown>} */ (given);
  if (first2 !== undefined && typeof first2 !== 'boolean') throw new InvalidArgument('tls.handshakeFirst must be a boolean');
  /** @type {Record<string, unknown>} */
  const out = { ...options };
  if (caFile !== undefined) {
    if (out.ca !== undefined) throw new InvalidArgument('give tls.ca or tls.caFile, not both');
    out.ca = readPem(caFile, 'caFile');
  }
  if (certFile !== undefined) {
    if (out.cert !== undefined) throw new InvalidArgument('give tls.cert or tls.certFile, not both');
    out.cert = readPem(certFile, 'certFile');
  }
  if (keyFile !== undefined) {
    if (out.key !== undefined) throw new InvalidArgument('give tls.key or tls.keyFile, not both');
    out.key = readPem(keyFile, 'keyFile');
  }
  if ((out.cert === undefined) !== (out.key === undefined) && out.pfx === undefined) {
    throw new InvalidArgument('a client certificate needs both tls.cert (or certFile) and tls.key (or keyFile)');
  }
  try {
    // A key that does not match its certificate, a wrong passphrase, PEM that is not PEM: said now,
    // not on every connection attempt.
    tls.createSecureContext(/** @type {import('node:tls').SecureContextOptions} */ (out));
  } catch (err) {
    throw new InvalidArgument(`invalid TLS options: ${/** @type {Error} */ (err).message}`);
  }
  return { mode: 'required', handshakeFirst: handshakeFirst === true || first2 === true, options: /** @type {import('node:tls').ConnectionOptions} */ (out) };
}

/**
 * A readable message for a failed TLS setup: OpenSSL's reason, a hint, Node's code.
 * @param {string} where @param {Error & {code?: string}} err
 * @returns {string}
 */
function tlsFailureMessage(where, err) {
  let text = String(err.message).trim();
  const reason = /SSL routines:[^:]*:([^:]+):/.exec(text);
  if (reason) text = reason[1];
  const code = typeof err.code === 'string' ? err.code : '';
  let hint = '';
  if (/ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA|CERTIFICATE_UNKNOWN|HANDSHAKE_FAILURE)/.test(code)) {
    hint = ' (the server refused the client certificate, or wanted one: tls.cert and tls.key, or certFile and keyFile)';
  } else if (/UNABLE_TO_VERIFY|SELF_SIGNED|CERT_UNTRUSTED|UNABLE_TO_GET_ISSUER/.test(code)) {
    hint = ' (the server certificate is not signed by a CA this client trusts: tls.ca or tls.caFile)';
  } else if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    hint = ' (the server certificate is for another name: tls.servername)';
  }
  return `TLS with ${where} failed: ${text}${hint}${code ? ` [${code}]` : ''}`;
}

/**
 * The `tls` option as shown on `client.options` / `worker.connection`: the private key and
 * passphrase hidden, files named.
 * @param {unknown} given
 * @returns {unknown}
 */
export function redactTls(given) {
  if (given === null || typeof given !== 'object') return given;
  /** @type {Record<string, unknown>} */
  const shown = { ...given };
  for (const k of TLS_SECRET_KEYS) if (shown[k] !== undefined) shown[k] = REDACTED;
  return shown;
}

/**
 * Connect options with every secret hidden (password, token, the url's credentials, the TLS key).
 * @param {ConnectOptions} options
 * @returns {ConnectOptions}
 */
export function redactConnectOptions(options) {
  /** @type {Record<string, any>} */
  const shown = { ...options };
  if ('pass' in shown) shown.pass = REDACTED;
  if ('token' in shown) shown.token = REDACTED;
  if ('nkeySeed' in shown) shown.nkeySeed = REDACTED;
  if (typeof shown.url === 'string') shown.url = redactUrl(shown.url);
  if ('tls' in shown) shown.tls = redactTls(shown.tls);
  return shown;
}

/**
 * `host:port` of connect options (url included), for messages; never throws, never shows secrets.
 * @param {ConnectOptions} options
 * @returns {string}
 */
export function describeAddress(options = {}) {
  let { host, port } = options;
  if (typeof options.url === 'string') {
    try {
      const u = parseServerUrl(options.url);
      host ??= u.host;
      port ??= u.port;
    } catch {
      return redactUrl(options.url);
    }
  }
  return `${host ?? '127.0.0.1'}:${port ?? 4222}`;
}

/**
 * Refuses limits that cannot work (InvalidArgument), before anything is opened.
 * @param {Record<string, any>} o the connect options, defaults filled in
 */
function checkLimits(o) {
  /** @param {string} name @param {{infinity?: boolean}} [allow] */
  const positive = (name, allow = {}) => {
    const v = o[name];
    if (allow.infinity && v === Infinity) return;
    if (!Number.isSafeInteger(v) || v <= 0) {
      throw new InvalidArgument(`${name} must be a positive integer${allow.infinity ? ' or Infinity' : ''} (got ${shown(v)})`);
    }
  };
  positive('maxOutboxBytes');
  positive('maxBufferedOutputBytes', { infinity: true });
  positive('maxPendingMsgs', { infinity: true });
  positive('maxPendingBytes', { infinity: true });
  positive('maxPingsOut');
  positive('maxControlLine');
  const attempts = o.maxReconnectAttempts;
  if (attempts !== Infinity && !(Number.isSafeInteger(attempts) && attempts >= 0)) {
    throw new InvalidArgument(`maxReconnectAttempts must be an integer, 0 or more, or Infinity (got ${shown(attempts)})`);
  }
  for (const name of ['echo', 'reconnect']) {
    // A string such as "false" is truthy: it would turn on what it meant to turn off.
    if (typeof o[name] !== 'boolean') throw new InvalidArgument(`${name} must be true or false (got ${shown(o[name])})`);
  }
  if (o.name !== undefined && o.name !== null && typeof o.name !== 'string') {
    throw new InvalidArgument(`name must be a string (got ${shown(o.name)})`);
  }
  const ping = o.pingIntervalMs;
  if (ping !== null && ping !== 0 && !(typeof ping === 'number' && ping > 0 && ping <= 2 ** 31 - 1)) {
    throw new InvalidArgument(`pingIntervalMs must be a positive number of milliseconds, or 0 or null for no pings (got ${shown(ping)})`);
  }
  /** @param {string} name @param {boolean} [zeroOrNull] 0 and null mean no limit too */
  const timeout = (name, zeroOrNull = false) => {
    const v = o[name];
    if (zeroOrNull && (v === 0 || v === null)) return;
    if (typeof v === 'number' && v > 0) return; // Infinity: no limit
    throw new InvalidArgument(`${name} must be a positive number of milliseconds, or ${zeroOrNull ? '0, null or ' : ''}Infinity for no limit (got ${shown(v)})`);
  };
  timeout('connectTimeoutMs');
  timeout('requestTimeoutMs');
  timeout('commandTimeoutMs', true);
  if (!(typeof o.reconnectDelayMs === 'number' && o.reconnectDelayMs >= 0 && Number.isFinite(o.reconnectDelayMs))) {
    throw new InvalidArgument(`reconnectDelayMs must be 0 or more milliseconds (got ${shown(o.reconnectDelayMs)})`);
  }
  if (!(typeof o.reconnectJitterMs === 'number' && o.reconnectJitterMs >= 0 && Number.isFinite(o.reconnectJitterMs))) {
    throw new InvalidArgument(`reconnectJitterMs must be 0 or more milliseconds (got ${shown(o.reconnectJitterMs)})`);
  }
  if (!(typeof o.maxReconnectDelayMs === 'number' && o.maxReconnectDelayMs >= 0)) {
    throw new InvalidArgument(`maxReconnectDelayMs must be 0 or more milliseconds, or Infinity (got ${shown(o.maxReconnectDelayMs)})`);
  }
}

/**
 * A value for an error message (never throws, whatever it is).
 * @param {unknown} v
 * @returns {string}
 */
function shown(v) {
  if (typeof v === 'string') return JSON.stringify(v);
  try {
    return String(v);
  } catch {
    return typeof v;
  }
}

/**
 * The timeout a call gives, in milliseconds: 0 or more, or Infinity for no limit. Anything else
 * (NaN, a negative number, a string) throws InvalidArgument.
 * @param {unknown} value @param {string} what the option, for the message
 * @returns {number}
 */
export function checkTimeout(value, what = 'timeout') {
  if (typeof value === 'number' && value >= 0) return value;
  throw new InvalidArgument(`${what} must be 0 or more milliseconds, or Infinity for no limit (got ${shown(value)})`);
}

/**
 * A call's `signal`: an AbortSignal (or one shaped like it), or undefined for none. Anything else
 * throws InvalidArgument, before anything is sent.
 * @param {unknown} value
 * @returns {AbortSignal|undefined}
 */
export function checkSignal(value) {
  if (value === undefined || value === null) return undefined;
  const s = /** @type {any} */ (value);
  if (typeof s === 'object' && typeof s.aborted === 'boolean' && typeof s.addEventListener === 'function' && typeof s.removeEventListener === 'function') {
    return /** @type {AbortSignal} */ (value);
  }
  throw new InvalidArgument(`signal must be an AbortSignal (got ${shown(value)})`);
}

/** The names of the ConnectOptions: any other name is refused, not ignored. */
export const CONNECT_OPTIONS = Object.freeze([
  'url', 'host', 'port', 'user', 'pass', 'token', 'nkeySeed', 'nkeySeedFile', 'credsFile', 'tls', 'tlsHandshakeFirst',
  'name', 'echo', 'reconnect', 'maxReconnectAttempts', 'reconnectDelayMs', 'maxReconnectDelayMs', 'reconnectJitterMs', 'connectTimeoutMs',
  'maxOutboxBytes', 'maxBufferedOutputBytes', 'maxPendingMsgs', 'maxPendingBytes', 'pingIntervalMs', 'maxPingsOut',
  'maxControlLine', 'requestTimeoutMs', 'commandTimeoutMs',
]);

/**
 * The options of `connect(options)` or `connect(url, options)`, their names checked: a misspelt
 * `comandTimeoutMs`, or options after a url that were once ignored, would leave defaults (and no
 * credentials) in force without a word.
 * @param {unknown} options the options, or a url @param {unknown} more the options after a url
 * @returns {ConnectOptions}
 */
function connectOptionsOf(options, more) {
  if (typeof options === 'string') {
    const rest = checkOptionNames(more, CONNECT_OPTIONS, 'connect option');
    if (rest.url !== undefined) throw new InvalidArgument('a url is given twice: as the first argument and as the url option');
    return { ...rest, url: options };
  }
  if (more !== undefined) throw new InvalidArgument('options after the options: connect(options) or connect(url, options)');
  return checkOptionNames(options, CONNECT_OPTIONS, 'connect option');
}

/**
 * @typedef {object} ConnectOptions
 * @property {string} [url] `nats://host:port`, `nats://user:pass@host:port`, `nats://token@host:port`,
 *   or the same without `nats://`; gives host, port and credentials (host/port options given too win)
 * @property {string} [host] default 127.0.0.1
 * @property {number} [port] default 4222
 * @property {string} [user] with `pass`: credentials for a server started with `--user`/`--pass`
 * @property {string} [pass]
 * @property {string} [token] credentials for a server started with `--auth <token>`. Without
 *   user/token/seed/creds options, credentials come from the url, else from DOCKET_USER/DOCKET_PASS,
 *   DOCKET_TOKEN, DOCKET_NKEY_SEED_FILE or DOCKET_CREDS
 * @property {string} [nkeySeed] an NKEY user's seed (`SU…`), for a server whose users include its
 *   public key: it signs each connection's nonce and is never sent
 * @property {string} [nkeySeedFile] a file holding that seed (`nk -gen user > user.nk`)
 * @property {string} [credsFile] an nsc `.creds` file (a user JWT and its seed), for a server in
 *   operator mode
 * @property {boolean|TlsOptions} [tls] TLS: true or options to require it (as a `tls://` url does);
 *   false to refuse it (a server that requires TLS then fails the connection). Left out: plain TCP,
 *   upgraded to TLS (Node's bundled CAs) when the server's INFO says `tls_required`
 * @property {boolean} [tlsHandshakeFirst] start TLS at once, before the server's INFO (for a server
 *   configured for TLS handshake first); implies TLS
 * @property {string} [name] connection name shown in server logs
 * @property {boolean} [echo] deliver this connection's own publishes to its subscriptions (default true)
 * @property {boolean} [reconnect] reconnect after the connection breaks (default true)
 * @property {number} [maxReconnectAttempts] attempts in a row before giving up and closing (default Infinity)
 * @property {number} [reconnectDelayMs] first wait between attempts, doubled up to maxReconnectDelayMs (default 50)
 * @property {number} [maxReconnectDelayMs] default 2000
 * @property {number} [reconnectJitterMs] up to this much more, at random, on each wait between
 *   attempts (default 100, as NATS clients), so clients a server lost at once do not return in lockstep
 * @property {number} [connectTimeoutMs] time for one attempt to reach a working connection (default 5000)
 * @property {number} [maxOutboxBytes] bytes of commands kept while disconnected, or while the output
 *   is backed up (default 8 MiB); past it, ConnectionLost (disconnected) or BufferFull (connected)
 * @property {number} [maxBufferedOutputBytes] bytes written to the connection and not yet taken by the
 *   network (default 64 MiB, as the Python client): past it, what is sent waits in the outbox, and
 *   once that is full, publish() throws and commands reject with BufferFull (nothing sent)
 * @property {number} [maxPendingMsgs] default per-subscription limit of unread messages (default
 *   65536, as the Python client); past it messages are dropped and a SlowConsumer error is emitted
 * @property {number} [maxPendingBytes] the same in payload bytes (default 64 MiB)
 * @property {number|null} [pingIntervalMs] how often the client PINGs the server to find a dead
 *   connection (default 120000, as NATS clients; 0 or null: never)
 * @property {number} [maxPingsOut] PINGs unanswered, with no other reply received, before the connection
 *   is declared stale, closed and reconnected (default 2)
 * @property {number} [maxControlLine] the longest command line sent, CRLF not counted (default 4096,
 *   the server's `--max-control-line` default): a longer one would make the server close the
 *   connection, so it throws InvalidArgument before anything is sent
 * @property {number} [requestTimeoutMs] default timeout of request() (default 5000)
 * @property {number|null} [commandTimeoutMs] how long a command (ENQ, ACK, INSPECT, flush …) waits for its
 *   reply, counted from the call, disconnected time included, before it rejects with TimeoutError
 *   (default 10000; null or 0: no limit). A RESERVE with a `timeout` gets that wait on top; one without
 *   waits as long as the server does.
 */

/**
 * @typedef {object} Pending  a command written (or to be written) that expects one reply
 * @property {string} call its call name (a key of replyDecoders, or a name of its own)
 * @property {(frame: import('./protocol.js').Frame) => any} decode
 * @property {(v: any) => void} resolve
 * @property {(e: Error) => void} reject
 * @property {boolean} settled
 * @property {boolean} [written] it was written to the socket (else it waits in the outbox)
 * @property {number} [serverWait] ms the server may take to answer it on purpose (a RESERVE or
 *   WAIT that waits), holding back what comes after it, PINGs included
 * @property {number} [holdUntil] when that time ends (performance.now() based), once written
 * @property {(value: any) => void} [late] called with the reply that comes after a timeout
 */

/**
 * How long the server may hold a RESERVE or WAIT (and with it everything after it on the
 * connection, PINGs included) before it answers: its timeout, or forever without one.
 * @param {number|string|undefined|null} wait
 * @returns {number}
 */
function serverWait(wait) {
  return wait === undefined || wait === null ? Infinity : durationMs(wait);
}

/**
 * The TimeoutError of a command: one never written was not sent (and never will be), so it did
 * not happen; one written may or may not have.
 * @param {string} call @param {number} timeout @param {boolean} written @param {boolean} connected
 * @returns {TimeoutError}
 */
function commandTimeout(call, timeout, written, connected) {
  if (!written) {
    const why = connected ? 'the output stayed backed up' : 'the client was not connected';
    const what = call === 'enqueue' ? ': the job was not created' : call === 'batch' ? ': none of the jobs was created' : '';
    return new TimeoutError(`no reply to ${call} within ${timeout} ms: it was not sent (${why}) and never will be${what}`, { call, timeoutMs: timeout, sent: false });
  }
  const what =
    call === 'enqueue'
      ? ' (the job may or may not have been created: enqueue again with the same key)'
      : call === 'batch'
        ? ' (the batch may or may not have been enqueued, all of it or none: send it again with keys)'
        : '';
  return new TimeoutError(`no reply to ${call} within ${timeout} ms${what}`, { call, timeoutMs: timeout, sent: true });
}

/** A FIFO with O(1) push and shift. */
class Fifo {
  constructor() {
    /** @type {any[]} */
    this.items = [];
    this.head = 0;
  }
  get length() {
    return this.items.length - this.head;
  }
  push(x) {
    this.items.push(x);
  }
  peek() {
    return this.items[this.head];
  }
  last() {
    return this.length > 0 ? this.items[this.items.length - 1] : undefined;
  }
  shift() {
    if (this.head >= this.items.length) return undefined;
    const x = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return x;
  }
  drain() {
    const all = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return all;
  }
}

/**
 * A queue's settings, defaults filled in (the `config` of a queue document).
 * @typedef {object} QueueConfig
 * @property {string|null} rate `"<n>/<ms>ms"` (e.g. `"100/1000ms"`), or null for none
 * @property {string|null} group_rate the same, per group, or null
 * @property {number|null} concurrency or null for no cap
 * @property {number} attempts default attempts of new jobs
 * @property {string} backoff default backoff (`"exp:1000ms:3600000ms"`, `"fixed:1000ms"`)
 * @property {number} jitter 0..1
 * @property {number} lease_ms default lease
 * @property {number} keep_completed completed jobs kept
 * @property {number} keep_dead dead jobs kept
 */

/**
 * Jobs of a queue per state.
 * @typedef {object} QueueJobCounts
 * @property {number} waiting
 * @property {number} delayed
 * @property {number} blocked waiting for their parents (`after=`)
 * @property {number} active
 * @property {number} completed
 * @property {number} dead
 */

/**
 * Counters over the queue's whole life (they survive restarts; a forgotten queue starts again).
 * `enqueued = waiting + delayed + active + completed + dead + removed + deleted`.
 * @typedef {object} QueueTotals
 * @property {number} enqueued
 * @property {number} started attempts handed out
 * @property {number} completed
 * @property {number} failed attempts ended by FAIL, lease expiry, a lost worker or a restart
 * @property {number} dead
 * @property {number} throttled
 * @property {number} removed finished jobs removed by retention
 * @property {number} deleted by DEL
 */

/**
 * Events per second over the last minute of this server's run.
 * @typedef {object} QueueRates
 * @property {number} started_per_s
 * @property {number} completed_per_s
 * @property {number} failed_per_s
 * @property {number} dead_per_s
 */

/**
 * The queue document (`QUEUE <queue>`, each element of `QUEUES`), as the server sends it.
 * Fields a later server adds are passed through.
 * @typedef {object} QueueInfo
 * @property {string} queue
 * @property {boolean} paused
 * @property {QueueConfig} config
 * @property {QueueJobCounts} jobs
 * @property {QueueTotals} totals
 * @property {QueueRates} rates
 * @property {number|null} oldest_waiting_ms age of the longest-waiting job, or null
 * @property {number} active
 * @property {number} waiting_workers
 * @property {number|null} rate_window_starts starts in the current window, or null without a rate
 * @property {number|null} next_start_at unix ms when a held queue may start again, or null
 * @property {'paused'|'concurrency'|'throttle'|'rate'|null} blocked_by why nothing starts now
 * @property {number|null} held_until throttle end (unix ms), or null
 */

/**
 * The server's counters (`STATS`). Fields a later server adds are passed through.
 * @typedef {object} ServerStats
 * @property {string} server_id
 * @property {string} version
 * @property {string} docket_version
 * @property {number} uptime_ms
 * @property {number} connections
 * @property {number} total_connections
 * @property {number} refused_connections
 * @property {number} subscriptions
 * @property {number} slow_consumers
 * @property {number} in_msgs
 * @property {number} out_msgs
 * @property {number} in_bytes
 * @property {number} out_bytes
 * @property {number} jobs
 * @property {number} queues
 * @property {number} commits
 * @property {number} commit_us_total
 * @property {number} store_used_bytes
 * @property {number} store_capacity_bytes
 * @property {number} store_file_bytes
 * @property {string} sync `always` or `none`
 * @property {number} max_payload
 * @property {number} route_refusals
 * @property {number} skipped_ticks
 * @property {number} checkpoint_waits ENQs that waited for the log's checkpoints (embedded store)
 */

/**
 * A job as a document (`INSPECT`, each element of `DEAD`), as the server sends it. Fields a later
 * server adds are passed through. Job ids in it (`id`, `parents`, `children`) are numbers, or the
 * exact decimal string above Number.MAX_SAFE_INTEGER.
 * @typedef {object} JobInfo
 * @property {number|string} id
 * @property {string} queue
 * @property {'waiting'|'delayed'|'blocked'|'active'|'completed'|'dead'} state
 * @property {number} priority
 * @property {number} attempts runs so far
 * @property {number} max_attempts
 * @property {string} backoff
 * @property {number} jitter
 * @property {number} lease_ms
 * @property {string|null} key
 * @property {string|null} group
 * @property {number|null} enqueued_at unix ms
 * @property {number|null} run_at
 * @property {number|null} started_at
 * @property {number|null} finished_at
 * @property {number} progress
 * @property {string|null} progress_note
 * @property {string|null} last_error
 * @property {string|null} result UTF-8 text, or null
 * @property {number} payload_bytes
 * @property {number|null} expires_at unix ms after which it is not started any more (`ttl`/`expires`), or null
 * @property {(number|string)[]} [parents] the jobs it was enqueued after (`after=`), in that order
 *   (only on a job with parents)
 * @property {'fail'|'run'} [on_parent_dead] what a parent's death does to it (only with parents)
 * @property {(number|string)[]} [children] the jobs enqueued after it that still exist (only on a
 *   job with children)
 * @property {number} [key_until] unix ms until which its key is remembered (only with `keyTtl`)
 * @property {{attempt: number, started_at: number|null, ended_at: number, error: string|null}[]} [failed_attempts]
 *   its attempt history (`inspect` only): the attempts that ended without completing it, the last
 *   10, oldest first
 */

/**
 * One parent of a job and its outcome (each element of `parents()`): `result` and `error` are
 * UTF-8 text or null; a parent deleted since is `{id, state: 'deleted'}`.
 * @typedef {{id: number|string, queue: string, state: 'waiting'|'delayed'|'blocked'|'active'|'completed'|'dead', result: string|null, error: string|null}
 *   | {id: number|string, state: 'deleted'}} ParentInfo
 */

/**
 * One page of a queue's jobs in one state (`LIST`).
 * @typedef {object} JobPage
 * @property {string} queue
 * @property {'waiting'|'delayed'|'blocked'|'active'|'completed'|'dead'} state
 * @property {JobInfo[]} jobs in the state's order: waiting ones as they will run, delayed ones by
 *   run time, blocked ones by enqueue time, active ones by the start of their attempt, completed and
 *   dead ones newest first
 * @property {string|null} next the cursor to pass as `after` for the next page; null on the last
 */

/**
 * A schedule (`SCHEDULES`). Fields a later server adds are passed through.
 * @typedef {object} ScheduleInfo
 * @property {string} name
 * @property {string} queue
 * @property {string} [cron] the cron expression (cron schedules)
 * @property {string} [tz] the zone it is read in (cron schedules)
 * @property {number} [every_ms] the interval (every= schedules)
 * @property {'none'|'one'|'all'} catchup
 * @property {string} rule the SCHEDULE arguments as written
 * @property {number} payload_bytes
 * @property {boolean} paused
 * @property {number} created_at unix ms
 * @property {number|null} last_tick the tick handled last (unix ms), or null
 * @property {number[]} next the next three ticks (unix ms); empty while paused
 */

/**
 * A route (`ROUTES`).
 * @typedef {object} RouteInfo
 * @property {number} id
 * @property {string} pattern
 * @property {string} queue
 * @property {string} rule the route as written (`"orders.* emails attempts=2"`)
 * @property {string} [owner] the user who made it, whose rights it runs with (servers with users)
 */

/**
 * A lifecycle event (`$JOB.<queue>.<event>`, PROTOCOL.md 4c), the message body as sent. Extra
 * fields by event: `started` wait_ms; `progress` progress, note; `completed` run_ms, result_bytes;
 * `failed`/`stalled`/`lost` error, next ('retry'|'dead'), retry_in_ms, run_ms; `dead` error;
 * `throttled` error, retry_in_ms, run_ms; `scheduled` schedule, tick; `expired` error; `blocked`
 * parents. Job ids (`id`, `parents`) are numbers, or the exact decimal string above
 * Number.MAX_SAFE_INTEGER.
 * @typedef {object} JobEvent
 * @property {number} seq per queue, increasing by one per event (a jump means missed events)
 * @property {'enqueued'|'started'|'progress'|'completed'|'failed'|'stalled'|'lost'|'dead'|'throttled'|'retried'|'scheduled'|'expired'|'waiting'|'blocked'|'unblocked'} event
 * @property {number|string} id
 * @property {string} queue
 * @property {number} attempt
 * @property {number} max_attempts
 * @property {string} state the job's state after the transition
 * @property {number} at unix ms
 * @property {string} [group]
 * @property {number} [wait_ms]
 * @property {number} [progress]
 * @property {string} [note]
 * @property {number} [run_ms]
 * @property {number} [result_bytes]
 * @property {string} [error]
 * @property {'retry'|'dead'} [next]
 * @property {number} [retry_in_ms]
 * @property {string} [schedule] the schedule whose tick made the job (`scheduled`)
 * @property {number} [tick] the tick, unix ms (`scheduled`)
 * @property {(number|string)[]} [parents] the jobs it waits for (`blocked`)
 * @property {string} subject the subject it came on (added by the client)
 */

/**
 * Lifecycle events of a queue (or of every queue), as an async iterator of `JobEvent`:
 * `for await (const ev of client.events('emails')) …`. Leaving the loop (break, return, a throw)
 * unsubscribes; so does `close()`. A message whose body is not a JSON object is skipped.
 */
export class JobEvents {
  /** @param {Subscription} sub */
  constructor(sub) {
    this.subscription = sub;
    /** Resolves when it has ended. */
    this.closed = sub.closed;
  }

  /** Stops: the iterator ends once the events already received are read. */
  close() {
    this.subscription.unsubscribe();
  }

  /** @returns {AsyncIterator<JobEvent>} */
  [Symbol.asyncIterator]() {
    const it = this.subscription[Symbol.asyncIterator]();
    return {
      next: async () => {
        for (;;) {
          const r = await it.next();
          if (r.done) return { value: undefined, done: true };
          let body;
          try {
            body = parseJson(r.value.data.toString('utf8'));
          } catch {
            continue;
          }
          if (body === null || typeof body !== 'object' || Array.isArray(body)) continue;
          return { value: /** @type {JobEvent} */ ({ ...body, subject: r.value.subject }), done: false };
        }
      },
      return: async () => {
        await it.return?.();
        return { value: undefined, done: true };
      },
    };
  }
}

/**
 * Connects to docketd and resolves once the server has accepted the connection. Rejects with
 * AuthorizationError at once when the server refuses the credentials.
 * @param {ConnectOptions|string} [options] the options, or a url
 * @returns {Promise<Client>}
 */
export async function connect(options = {}, more = undefined) {
  const client = new Client(options, more);
  await client._firstConnect();
  return client;
}

/**
 * A connection to docketd. Events: `connect`, `disconnect` (err), `reconnecting` (attempt, delayMs),
 * `reconnect`, `error` (asynchronous server errors, SlowConsumer, what a listener or subscription
 * callback threw; only emitted when listened to), `close` (err|null). A listener that throws
 * never disturbs the connection (see _listenerThrew).
 */
export class Client extends EventEmitter {
  /**
   * @param {ConnectOptions|string} [options] the options, or a url
   * @param {ConnectOptions} [more] with a url: the other options (as `connect(url, **options)` of
   *   the Python client)
   */
  constructor(options = {}, more = undefined) {
    super();
    options = connectOptionsOf(options, more);
    const { user, pass, token, nkeySeed, nkeySeedFile, credsFile, url, tls: tlsGiven, ...rest } = options ?? {};
    /** @type {{host?: string, port?: number, user?: string, pass?: string, tls?: boolean}} */
    const fromUrl = url === undefined || url === null ? {} : parseServerUrl(url);
    credentialsOf.set(this, resolveCredentials({ user, pass, token, nkeySeed, nkeySeedFile, credsFile }, fromUrl, process.env));
    tlsOf.set(this, resolveTls(tlsGiven, fromUrl.tls === true, rest.tlsHandshakeFirst));
    /** @type {ConnectOptions & {host: string, port: number}} the settings (no password or token: url shown redacted) */
    this.options = {
      host: fromUrl.host ?? '127.0.0.1',
      port: fromUrl.port ?? 4222,
      ...(url === undefined || url === null ? {} : { url: redactUrl(url) }),
      echo: true,
      reconnect: true,
      maxReconnectAttempts: Infinity,
      reconnectDelayMs: 50,
      maxReconnectDelayMs: 2000,
      reconnectJitterMs: 100,
      connectTimeoutMs: 5000,
      maxOutboxBytes: 8 * 1024 * 1024,
      maxBufferedOutputBytes: 64 * 1024 * 1024,
      maxPendingMsgs: 65_536,
      maxPendingBytes: 64 * 1024 * 1024,
      maxControlLine: 4096,
      requestTimeoutMs: 5000,
      commandTimeoutMs: 10_000,
      pingIntervalMs: 120_000,
      maxPingsOut: 2,
      // An option given as undefined is left out: it takes its default.
      ...Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)),
      ...(tlsGiven === undefined ? {} : { tls: /** @type {any} */ (redactTls(tlsGiven)) }),
    };
    checkLimits(this.options);
    /** connections made after the first one */
    this.reconnects = 0;
    /** @type {'connecting'|'connected'|'disconnected'|'closed'} */
    this.state = 'connecting';
    /** @type {Record<string, any>|null} the server's INFO */
    this.info = null;
    /** @type {net.Socket|null} */
    this.socket = null;
    /** true while the connection runs over TLS */
    this.secure = false;
    /** commands on the current socket waiting for their reply, in order */
    this.inflight = new Fifo();
    /** commands held while not connected, or while the output is backed up, in order @type {Fifo} */
    this.outbox = new Fifo();
    this.outboxBytes = 0;
    /** @type {Map<string, Subscription>} */
    this.subs = new Map();
    this.nextSid = 1;
    /** @type {string|null} */
    this.inboxPrefix = null;
    /** @type {Subscription|null} */
    this.inboxSub = null;
    /** @type {Map<string, {resolve: (m: Msg) => void, reject: (e: Error) => void, timer: import('./timers.js').Timer|undefined, subject: string, held: boolean, accept: ((m: Msg) => boolean)|null}>} */
    this.requests = new Map();
    this.nextRequest = 1;
    this.reconnectAttempts = 0;
    /** @internal doublings of reconnectDelayMs the next reconnect waits */
    this._backoffStep = 0;
    /** @internal performance.now() at the last handshake, null once its loss was seen */
    this._connectedAt = null;
    /** @type {import('./timers.js').Timer|null} */
    this.reconnectTimer = null;
    /** @type {Error|null} the last server -ERR or socket error, the cause of a ConnectionLost */
    this.lastError = null;
    this.corked = false;
    /** @type {Promise<void>|null} */
    this._closing = null;
    /** @type {NodeJS.Timeout|null} the client's PING timer (while connected) */
    this._pingTimer = null;
    /** client PING intervals passed with no reply from the server */
    this._pingsOut = 0;
    /** a PING of the pinger waits for its PONG */
    this._pingInflight = false;
    /** PONGs owed to the server, written together at the end of the read */
    this._pongsOwed = 0;
    /** PONG bytes handed to the socket and not yet written */
    this._pongBytesUnwritten = 0;
    /** @type {NodeJS.Timeout|null} retries sending the outbox when output was backed up */
    this._outboxRetry = null;
    /** @type {import('./protocol.js').Parser|null} the current connection's parser */
    this._parser = null;
    /** @type {Set<Pending>} RESERVEs and WAITs in flight that may keep the server quiet on purpose */
    this._holding = new Set();
  }

  // -------------------------------------------------------------------------------------------
  // Connection lifecycle

  /** @internal */
  _firstConnect() {
    return new Promise((resolve, reject) => {
      this._openSocket((err) => {
        if (err) {
          this.state = 'closed';
          this._failAll(err, true);
          reject(err);
        } else {
          resolve();
        }
      });
    });
  }

  /**
   * Opens a socket and runs the handshake (INFO → [TLS] → CONNECT, subscriptions, PING → PONG;
   * with tlsHandshakeFirst, TLS → INFO → …).
   * @param {(err: Error|null) => void} done called once: handshake done, or this attempt failed
   * @internal
   */
  _openSocket(done) {
    const { host, port } = this.options;
    const where = `${host}:${port}`;
    const tlsConf = /** @type {TlsConfig} */ (tlsOf.get(this));
    this.secure = false;
    let finished = false;
    let infoSeen = false;
    const finish = (/** @type {Error|null} */ err) => {
      if (finished) return;
      finished = true;
      clearTimer(timer);
      done(err);
    };
    const fail = (/** @type {Error} */ err) => {
      this.lastError = err;
      finish(err);
      current.destroy();
    };
    const parser = new Parser((frame) => {
      // Nothing more is dispatched once the client is closed or this connection was given up (a
      // protocol error, a stale connection): the rest of what was read belongs to a connection
      // that is gone, and its replies would match nothing (or the wrong thing).
      if (this.state === 'closed' || this.socket !== current || current.destroyed) return;
      try {
        if (!infoSeen && frame.op === 'INFO') {
          infoSeen = true;
          this.info = frame.info;
          this._applyInfoLimits();
          this._afterInfo(current, frame.info, tlsConf, where, finish, fail, upgrade);
          return;
        }
        if (!infoSeen) {
          // A server speaks first, with INFO. Anything else would otherwise be taken as traffic
          // of a connection that is not up yet (a MSG handed to a subscription, an -ERR only
          // emitted) while the attempt waited out connectTimeoutMs.
          fail(frame.op === 'ERR' ? new ServerError(frame.text) : new ProtocolError(`${where} sent ${frame.op} before INFO: is it a docketd or NATS server?`));
          return;
        }
        if (!finished && frame.op === 'ERR' && isAuthorizationViolation(frame.text)) {
          // The answer to CONNECT: this attempt fails with it (not with the close that follows).
          fail(this._authorizationError(frame.text, where));
          return;
        }
        this._onFrame(frame);
      } catch (err) {
        // Not the server's fault (listeners are called through _emitSafe, and a reply that does not
        // fit is handled in _onFrame): never a protocol error, never a reason to drop the connection.
        this._listenerThrew('handling a frame', err);
      }
    });
    this._parser = parser;
    /**
     * Listens to a socket (the plain one, then the TLS one wrapped around it).
     * @param {net.Socket} sock @param {boolean} isTls
     */
    const attach = (sock, isTls) => {
      // A TLS socket made by tls.connect (handshake first) is a TLS failure only once TCP is up.
      let tcpUp = !sock.connecting;
      if (!tcpUp) sock.once('connect', () => (tcpUp = true));
      sock.on('data', (chunk) => {
        if (this.socket !== sock || this.state === 'closed') return;
        try {
          parser.push(chunk);
        } catch (err) {
          this._protocolFailure(/** @type {Error} */ (err));
        }
      });
      sock.on('drain', () => {
        if (this.socket === sock && this.state === 'connected') this._sendOutbox();
      });
      sock.on('error', (err) => {
        if (this.socket !== sock) return;
        if (finished || err instanceof TlsError) {
          this.lastError = err;
        } else if (isTls && tcpUp) {
          // Before the connection is up, an error on a TLS socket is the TLS setup failing (a
          // certificate the client does not trust, or one the server wanted and did not get).
          this.lastError = new TlsError(tlsFailureMessage(where, err), { cause: err });
        } else {
          // Refused, unknown host, reset during the handshake: a typed error, Node's as its cause.
          this.lastError = new ConnectError(`cannot connect to ${where}: ${err.message}`, { cause: err });
        }
      });
      sock.on('close', () => {
        if (this.socket !== sock) return;
        if (!finished) finish(this.lastError ?? new ConnectionLost('connection closed during the handshake'));
        this._onSocketClosed();
      });
    };
    /** Wraps the plain socket in TLS, after INFO. */
    const upgrade = () => {
      /** @type {tls.TLSSocket} */
      let secured;
      try {
        secured = tls.connect(this._tlsConnectOptions(host, { socket: current }));
      } catch (err) {
        fail(new TlsError(tlsFailureMessage(where, /** @type {Error} */ (err)), { cause: err }));
        return;
      }
      current = secured;
      this.socket = secured;
      attach(secured, true);
      secured.once('secureConnect', () => {
        if (this.socket !== secured) return;
        this.secure = true;
        this._handshake(secured, finish);
      });
    };
    /** @type {net.Socket} */
    let current;
    try {
      current = tlsConf.handshakeFirst ? tls.connect(this._tlsConnectOptions(host, { port })) : net.createConnection({ host, port });
    } catch (err) {
      // Options Node refuses (a port out of range; TLS options are checked when the client was
      // made): this attempt fails, and so would every other.
      const failure = tlsConf.handshakeFirst
        ? new TlsError(tlsFailureMessage(where, /** @type {Error} */ (err)), { cause: err })
        : new InvalidArgument(`cannot connect to ${where}: ${/** @type {Error} */ (err).message}`);
      this.lastError = failure;
      process.nextTick(() => {
        done(failure);
        if (this.state === 'disconnected') this._scheduleReconnect(); // no socket will close to do it
      });
      return;
    }
    current.setNoDelay(true);
    current.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    this._pongsOwed = 0;
    this._pongBytesUnwritten = 0;
    this.socket = current;
    attach(current, tlsConf.handshakeFirst);
    if (tlsConf.handshakeFirst) current.once('secureConnect', () => (this.secure = true));
    const timer = setTimer(() => {
      finish(new TimeoutError(`connecting to ${where} timed out`));
      current.destroy();
    }, this.options.connectTimeoutMs);
  }

  /**
   * The server's first INFO: go on in the clear, upgrade to TLS, or give up.
   * @param {net.Socket} socket @param {Record<string, any>} info @param {TlsConfig} tlsConf
   * @param {string} where @param {(err: Error|null) => void} finish @param {(err: Error) => void} fail
   * @param {() => void} upgrade
   * @internal
   */
  _afterInfo(socket, info, tlsConf, where, finish, fail, upgrade) {
    if (tlsConf.handshakeFirst) {
      this._handshake(socket, finish);
      return;
    }
    const serverTls = info.tls_required === true;
    if (serverTls && tlsConf.mode === 'off') {
      fail(new TlsError(`${where} requires TLS (its INFO says tls_required), and this client was made with tls: false`));
      return;
    }
    if (serverTls || tlsConf.mode === 'required') {
      if (!serverTls && info.tls_available !== true) {
        fail(new TlsError(`${where} does not offer TLS (its INFO has no tls_required), and this client requires it (a tls:// url or tls options)`));
        return;
      }
      if (info.tls_verify === true && tlsConf.options.cert === undefined && tlsConf.options.pfx === undefined) {
        // The handshake would fail: say why now, instead of with the server's alert.
        fail(new TlsError(`${where} requires a client certificate (its INFO says tls_verify), and none was given: tls.cert and tls.key, or certFile and keyFile`));
        return;
      }
      upgrade();
      return;
    }
    this._handshake(socket, finish);
  }

  /**
   * Options for tls.connect: the client's TLS settings, the host to verify the certificate
   * against (SNI only for names: RFC 6066 has none for IP addresses).
   * @param {string} host @param {import('node:tls').ConnectionOptions} extra
   * @returns {import('node:tls').ConnectionOptions}
   * @internal
   */
  _tlsConnectOptions(host, extra) {
    const { options } = /** @type {TlsConfig} */ (tlsOf.get(this));
    /** @type {import('node:tls').ConnectionOptions} */
    const out = { ...options, host, ...extra };
    if (out.servername === undefined && net.isIP(host) === 0) out.servername = host;
    return out;
  }

  /**
   * @param {net.Socket} socket
   * @param {(err: Error|null) => void} finish
   * @internal
   */
  _handshake(socket, finish) {
    const creds = credentialsOf.get(this);
    const nonce = this.info?.nonce;
    if (creds?.seed && typeof nonce !== 'string') {
      // A signature the server cannot check would only be refused: say why instead, sending nothing.
      const { host, port } = this.options;
      this.lastError = new AuthorizationError(
        `${host}:${port} sent no nonce in its INFO, so it takes no NKEY or JWT logins (it has no NKEY users and is not in operator mode); nothing was signed or sent for ${describeCredentials(creds)}`,
        'no nonce',
      );
      finish(this.lastError);
      socket.destroy();
      return;
    }
    /** @type {Record<string, unknown>} */
    const connectOpts = {
      verbose: false,
      pedantic: false,
      headers: true,
      no_responders: true,
      echo: this.options.echo,
      protocol: 1,
      lang: 'node',
      version: VERSION,
    };
    if (this.options.name) connectOpts.name = this.options.name;
    if (this.secure) connectOpts.tls_required = true;
    if (creds?.user) {
      connectOpts.user = creds.user;
      connectOpts.pass = creds.pass ?? '';
    }
    if (creds?.token) connectOpts.auth_token = creds.token;
    if (creds?.seed) {
      if (creds.jwt) connectOpts.jwt = creds.jwt;
      else connectOpts.nkey = creds.seed.publicKey;
      connectOpts.sig = creds.seed.sign(/** @type {string} */ (nonce));
    }
    this._write(encodeConnect(connectOpts));
    for (const sub of this.subs.values()) {
      this._write(encodeSub(sub.subject, sub.sid, { queue: sub.queue }));
      if (sub.max !== undefined) this._write(encodeUnsub(sub.sid, Math.max(sub.max - sub.received, 0)));
    }
    this._expect(PING, {
      call: 'ping',
      decode: replyDecoders.ping,
      resolve: () => {
        if (this.socket !== socket) return;
        const reconnected = this.state === 'disconnected';
        this.state = 'connected';
        if (reconnected) this.reconnects++;
        this.reconnectAttempts = 0;
        this._connectedAt = performance.now();
        this.lastError = null;
        this._startPinger(socket);
        // The held commands go once the rest of this read is parsed: a reply that came with the
        // PONG answers no command (none was sent yet), and must not pass for the first one's.
        queueMicrotask(() => {
          if (this.socket === socket && this.state === 'connected' && !socket.destroyed) this._sendOutbox();
        });
        finish(null);
        this._emitSafe(reconnected ? 'reconnect' : 'connect');
      },
      reject: (err) => finish(err),
      settled: false,
    });
  }

  /**
   * The error for a refused CONNECT; names the user, never the password or token.
   * @param {string} text @param {string} where @internal
   */
  _authorizationError(text, where) {
    const creds = credentialsOf.get(this) ?? { source: '' };
    const why = creds.user || creds.token || creds.seed
      ? `${where} refused the credentials: ${describeCredentials(creds)}`
      : `${where} requires authentication and no credentials were given (user/pass, token, nkeySeed/nkeySeedFile or credsFile options, the url, or ${ENV_USER}/${ENV_PASS}, ${ENV_TOKEN}, ${ENV_NKEY_SEED_FILE} or ${ENV_CREDS})`;
    return new AuthorizationError(`${why} (${text})`, text);
  }

  /** How this client authenticates, without secrets: e.g. `user "alice" with a password (from the url)`. */
  get authentication() {
    return describeCredentials(credentialsOf.get(this) ?? { source: '' });
  }

  /**
   * Writes what the outbox holds, in order, as far as the output limit lets it (the rest waits
   * for the socket to drain).
   * @internal
   */
  _sendOutbox() {
    if (this._outboxRetry) clearTimeout(this._outboxRetry);
    this._outboxRetry = null;
    while (this.outbox.length > 0) {
      const { bytes, entry, onWritten } = this.outbox.peek();
      if (entry?.settled) {
        // It timed out before it could be sent, and its caller was told so: never send it.
        this.outbox.shift();
        this.outboxBytes -= bytes.length;
        continue;
      }
      if (!this._roomFor(bytes.length)) {
        this._awaitRoom();
        return;
      }
      this.outbox.shift();
      this.outboxBytes -= bytes.length;
      if (entry) this._expect(bytes, entry);
      else this._write(bytes);
      onWritten?.();
    }
  }

  /**
   * True when `n` more bytes may be written now: the socket holds at most maxBufferedOutputBytes
   * not yet taken by the network (one write is always let through when it holds nothing).
   * @param {number} n @internal
   */
  _roomFor(n) {
    const buffered = this.socket?.writableLength ?? 0;
    return buffered === 0 || buffered + n <= this.options.maxBufferedOutputBytes;
  }

  /**
   * The outbox waits for room: the socket's 'drain' sends it on; when no 'drain' is due (a limit
   * below the socket's own high-water mark), a timer looks again.
   * @internal
   */
  _awaitRoom() {
    if (this.socket?.writableNeedDrain || this._outboxRetry) return;
    this._outboxRetry = setTimeout(() => {
      this._outboxRetry = null;
      if (this.state === 'connected') this._sendOutbox();
    }, 5);
    this._outboxRetry.unref?.();
  }

  /** @internal */
  _onSocketClosed() {
    this.socket = null;
    this.secure = false;
    this._stopPinger();
    this._holding.clear();
    const cause = this.lastError;
    // Everything written and unanswered may or may not have happened.
    for (const entry of this.inflight.drain()) {
      this._settle(entry, new ConnectionLost(undefined, { cause }));
    }
    for (const [token, r] of this.requests) {
      if (r.held) continue;
      clearTimer(r.timer);
      this.requests.delete(token);
      r.reject(new ConnectionLost(`connection lost before the reply to ${r.subject} arrived`, { cause }));
    }
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected';
    this.state = 'disconnected';
    if (wasConnected) this._emitSafe('disconnect', cause);
    this._scheduleReconnect();
  }

  /** @internal */
  _scheduleReconnect() {
    if (this.state === 'closed') return;
    if (!this.options.reconnect || this.reconnectAttempts >= this.options.maxReconnectAttempts) {
      this._shutdown(new ConnectionLost('connection lost and not reconnecting', { cause: this.lastError }));
      return;
    }
    const attempt = ++this.reconnectAttempts;
    // A connection lost within maxReconnectDelayMs of its handshake does not start the backoff
    // over: a server that lets clients in and drops them at once is not reconnected to every
    // reconnectDelayMs, the waits go on doubling from where the last reconnect left them.
    if (this._connectedAt !== null) {
      if (performance.now() - this._connectedAt >= this.options.maxReconnectDelayMs) this._backoffStep = 0;
      this._connectedAt = null;
    }
    // The jitter keeps the clients a restarted server lost all at once from retrying in lockstep.
    const delay = Math.min(this.options.reconnectDelayMs * 2 ** this._backoffStep, this.options.maxReconnectDelayMs)
      + Math.random() * this.options.reconnectJitterMs;
    this._backoffStep = Math.min(this._backoffStep + 1, 52);
    this._emitSafe('reconnecting', attempt, delay);
    this.reconnectTimer = setTimer(() => {
      this.reconnectTimer = null;
      if (this.state === 'closed') return;
      this._openSocket((err) => {
        if (err) {
          this.lastError = err;
          this.socket?.destroy();
          // Refused credentials: retrying (with the backoff above) cannot help until they, or the
          // server's, change; tell whoever listens (a Worker logs it at error).
          if (err instanceof AuthorizationError) this._asyncError(err);
        }
      });
    }, delay);
  }

  /**
   * The largest MSG/HMSG the parser takes: the server's max_payload plus a margin for headers it
   * adds (without a usable max_payload, the parser's own limit).
   * @internal
   */
  _applyInfoLimits() {
    const parser = this._parser;
    if (!parser) return;
    const max = this._maxPayload();
    parser.maxMessage = max !== undefined ? max + MESSAGE_SIZE_MARGIN : parser.maxPayload;
  }

  /**
   * The server's max_payload from INFO; undefined when it has none, or one that is no positive
   * integer (which would otherwise refuse every payload).
   * @internal @returns {number|undefined}
   */
  _maxPayload() {
    const max = this.info?.max_payload;
    return Number.isSafeInteger(max) && max > 0 ? max : undefined;
  }

  /**
   * Answers a server PING. The PONGs of one read are written together; a server that keeps
   * sending PINGs without reading the PONGs (more than 1 MiB of them wait unwritten) is dropped.
   * @internal
   */
  _owePong() {
    this._pongsOwed += 1;
    if (this._pongsOwed > 1) return;
    const socket = this.socket;
    process.nextTick(() => {
      const n = this._pongsOwed;
      this._pongsOwed = 0;
      if (!socket || this.socket !== socket || socket.destroyed || this.state === 'closed') return;
      const bytes = n === 1 ? PONG : Buffer.alloc(PONG.length * n, PONG);
      if (this._pongBytesUnwritten + bytes.length > MAX_UNWRITTEN_PONG_BYTES) {
        this._protocolFailure(new ProtocolError(`the server sends PINGs and does not read the PONGs (${this._pongBytesUnwritten + bytes.length} bytes of them unwritten)`));
        return;
      }
      this._pongBytesUnwritten += bytes.length;
      this._write(bytes, () => {
        if (this.socket === socket) this._pongBytesUnwritten -= bytes.length;
      });
    });
  }

  /** @param {Error} err @internal */
  _protocolFailure(err) {
    this.lastError = err;
    this._asyncError(err);
    this.socket?.destroy();
    // Down now, not at the socket's 'close' a moment later: a command issued meanwhile (by the
    // caller the failure just rejected, say) was written to the dead socket and failed with
    // ConnectionLost; it now waits for the reconnect like any command issued while disconnected.
    // (During the handshake, 'close' ends the attempt as it always has.)
    if (this.state === 'connected') this._onSocketClosed();
  }

  /** @param {unknown} err @internal */
  _asyncError(err) {
    if (this.listenerCount('error') > 0) this._emitSafe('error', err);
  }

  /**
   * Emits an event so that a listener that throws cannot disturb the connection (it is called
   * while the client reads the socket: its error must not pass for the server's).
   * @param {string} event @param {...unknown} args @internal
   */
  _emitSafe(event, ...args) {
    try {
      this.emit(event, ...args);
    } catch (err) {
      this._listenerThrew(`a '${event}' listener`, err);
    }
  }

  /**
   * What a listener or a subscription callback threw: emitted as `error`; from an `error`
   * listener itself, or with none, a process warning (type DocketClientWarning). Nothing else
   * happens: the connection stays.
   * @param {string} what who threw, e.g. `a 'reconnect' listener` @param {unknown} err @internal
   */
  _listenerThrew(what, err) {
    let from = what;
    let thrown = err;
    if (from !== "a 'error' listener" && this.listenerCount('error') > 0) {
      try {
        this.emit('error', thrown);
        return;
      } catch (again) {
        from = "a 'error' listener";
        thrown = again;
      }
    }
    const text = thrown instanceof Error ? (thrown.stack ?? thrown.message) : String(thrown);
    process.emitWarning(`${from} of a docket client threw: ${text}`, 'DocketClientWarning');
  }

  /**
   * Starts the pinger: every pingIntervalMs, a connection that answered none of our commands for
   * maxPingsOut intervals in a row (each with a PING of ours out) is stale: it is closed, and the
   * client reconnects. Only replies count (the PONG, or any reply before it), as NATS clients
   * count only PONGs: messages and the server's own PINGs do not show that it answers us. While a
   * RESERVE or WAIT may be waiting on purpose, the server reads and sends nothing on the
   * connection: silence then counts for nothing (TCP keep-alive still finds a dead peer).
   * @param {net.Socket} socket @internal
   */
  _startPinger(socket) {
    this._stopPinger();
    this._pingsOut = 0;
    this._pingInflight = false;
    const interval = this.options.pingIntervalMs;
    if (!interval) return;
    this._pingTimer = setInterval(() => {
      if (this.socket !== socket || this.state !== 'connected') return;
      if (this._serverHolding()) {
        this._pingsOut = 0;
        return;
      }
      if (this._pingsOut >= this.options.maxPingsOut) {
        const err = new ConnectionLost(`stale connection: no reply for ${this._pingsOut} PING intervals of ${interval} ms`);
        this.lastError = err;
        this._stopPinger();
        socket.destroy();
        return;
      }
      this._pingsOut += 1;
      if (this._pingInflight) return; // one PING of ours at a time is enough to make the server talk
      this._pingInflight = true;
      const done = () => {
        if (this.socket === socket) this._pingInflight = false;
      };
      this._expect(PING, { call: 'ping', decode: replyDecoders.ping, resolve: done, reject: done, settled: false, written: false });
    }, interval);
    this._pingTimer.unref?.();
  }

  /** @internal */
  _stopPinger() {
    if (this._pingTimer) clearInterval(this._pingTimer);
    this._pingTimer = null;
  }

  /** True while the connection runs over TLS. */
  get isSecure() {
    return this.secure;
  }

  /** True while the connection is up. */
  get isConnected() {
    return this.state === 'connected';
  }

  /** True once close() was called or the client gave up reconnecting. */
  get isClosed() {
    return this.state === 'closed';
  }

  /**
   * Closes the connection. Commands waiting for a reply reject with ConnectionClosed, subscriptions
   * end. What was already written is still delivered to the server.
   * @returns {Promise<void>}
   */
  close() {
    if (!this._closing) this._closing = this._shutdown(null);
    return this._closing;
  }

  /**
   * close() that waits at most `lingerMs` for the socket to close before destroying it.
   * @param {number} lingerMs @internal
   */
  _closeWithin(lingerMs) {
    if (!this._closing) this._closing = this._shutdown(null, lingerMs);
    return this._closing;
  }

  /**
   * Waits until the server has handled everything sent so far (flush), then closes.
   * @param {{timeout?: number}} [opts]
   */
  async drain(opts = {}) {
    try {
      if (this.state === 'connected') await this.flush(opts);
    } finally {
      await this.close();
    }
  }

  /** @param {Error|null} err @param {number} [lingerMs] @internal */
  _shutdown(err, lingerMs = 1000) {
    if (this.state === 'closed' && !this.socket) return Promise.resolve();
    this.state = 'closed';
    clearTimer(this.reconnectTimer);
    this.reconnectTimer = null;
    this._stopPinger();
    if (this._outboxRetry) clearTimeout(this._outboxRetry);
    this._outboxRetry = null;
    this._failAll(err ?? new ConnectionClosed(), false);
    const socket = this.socket;
    const closed = new Promise((resolve) => {
      if (!socket || socket.destroyed) return resolve(undefined);
      socket.once('close', () => resolve(undefined));
      socket.end();
      setTimeout(() => socket.destroy(), lingerMs).unref();
    });
    return closed.then(() => {
      this._emitSafe('close', err);
    });
  }

  /** @param {Error} err @param {boolean} _first @internal */
  _failAll(err, _first) {
    this._holding.clear();
    for (const entry of this.inflight.drain()) this._settle(entry, err);
    for (const { entry } of this.outbox.drain()) if (entry) this._settle(entry, err);
    this.outboxBytes = 0;
    for (const [token, r] of this.requests) {
      clearTimer(r.timer);
      this.requests.delete(token);
      r.reject(err);
    }
    for (const sub of this.subs.values()) sub._end();
    this.subs.clear();
  }

  // -------------------------------------------------------------------------------------------
  // Writing and reply matching

  /** @param {Buffer} bytes @param {() => void} [written] called once the socket has written it @internal */
  _write(bytes, written) {
    const socket = this.socket;
    if (!socket) return;
    if (!this.corked) {
      this.corked = true;
      socket.cork();
      process.nextTick(() => {
        this.corked = false;
        socket.uncork();
      });
    }
    if (written) socket.write(bytes, () => written());
    else socket.write(bytes);
  }

  /**
   * Sends bytes that expect no reply (PUB, SUB, UNSUB): now, or from the outbox once the output
   * has room or the client has reconnected. Throws (nothing sent) when that cannot be.
   * @param {Buffer} bytes
   * @param {{control?: boolean, onWritten?: () => void}} [opts] control: SUB/UNSUB, written at once
   *   while connected whatever the output holds (a few bytes; they must not fail for want of room);
   *   onWritten: called when the bytes are handed to the socket
   * @internal
   */
  _send(bytes, opts = {}) {
    if (this.state === 'closed') throw new ConnectionClosed();
    this._checkLine(bytes);
    if (this.state === 'connected' && (opts.control || (this.outbox.length === 0 && this._roomFor(bytes.length)))) {
      this._write(bytes);
      opts.onWritten?.();
    } else {
      this._hold(bytes, null, opts.onWritten);
    }
  }

  /**
   * A control line longer than the server's limit is a fatal protocol error there (the connection
   * and every command pipelined on it would be lost): refuse it here.
   * @param {Buffer} bytes @internal
   */
  _checkLine(bytes) {
    const max = this.options.maxControlLine;
    if (typeof max !== 'number' || !(max > 0)) return;
    const end = bytes.indexOf(13);
    const length = end < 0 ? bytes.length : end;
    if (length > max) throw new InvalidArgument(`command line of ${length} bytes is over the limit of ${max} (maxControlLine, the server's --max-control-line)`);
  }

  /**
   * Keeps bytes in the outbox, to be written once connected and the output has room.
   * @param {Buffer} bytes @param {Pending|null} entry @param {() => void} [onWritten] @internal
   */
  _hold(bytes, entry, onWritten) {
    if (this.outboxBytes + bytes.length > this.options.maxOutboxBytes) {
      if (this.state !== 'connected') throw new ConnectionLost('disconnected, and the outbox is full');
      const buffered = (this.socket?.writableLength ?? 0) + this.outboxBytes;
      throw new BufferFull(
        `output backed up: ${buffered} bytes wait to be written (maxBufferedOutputBytes ${this.options.maxBufferedOutputBytes}, ` +
          `then the outbox, maxOutboxBytes ${this.options.maxOutboxBytes}); the server is not reading fast enough: nothing was sent`,
        { bufferedBytes: buffered, limit: this.options.maxBufferedOutputBytes + this.options.maxOutboxBytes },
      );
    }
    this.outbox.push({ bytes, entry, onWritten });
    this.outboxBytes += bytes.length;
    if (this.state === 'connected') this._awaitRoom();
  }

  /** @param {Buffer} bytes @param {Pending} entry @internal */
  _expect(bytes, entry) {
    entry.written = true;
    if (entry.serverWait) {
      entry.holdUntil = performance.now() + entry.serverWait;
      this._holding.add(entry);
    }
    this.inflight.push(entry);
    this._write(bytes);
  }

  /**
   * True while a RESERVE or WAIT written on this connection may still be waiting on purpose: the
   * server reads nothing more of the connection meanwhile (and sends nothing either), so its
   * silence says nothing about the connection. (TCP keep-alive still finds a dead peer then.)
   * @internal
   */
  _serverHolding() {
    const now = performance.now();
    for (const entry of this._holding) if (/** @type {number} */ (entry.holdUntil) > now) return true;
    return false;
  }

  /** @param {Pending} entry @param {Error|null} err @param {any} [value] @internal */
  _settle(entry, err, value) {
    if (entry.settled) return;
    entry.settled = true;
    if (err) entry.reject(err);
    else entry.resolve(value);
  }

  /**
   * Sends a command that gets exactly one reply, and decodes that reply. This is the building
   * block of every job verb; a verb the server adds later is an encoder and a reply decoder.
   * @param {Buffer} bytes the encoded command
   * @param {string} call its name: a key of `replyDecoders` (protocol.js)
   * @param {{timeout?: number|null, signal?: AbortSignal, decode?: (frame: import('./protocol.js').Frame) => any, late?: (value: any) => void, serverWait?: number, gaveUp?: (entry: Pending) => void}} [opts]
   *   timeout: reject with TimeoutError after this many ms (default: the client's
   *   `commandTimeoutMs`; null or Infinity: no limit; 0: at once, without waiting for the reply;
   *   NaN or a negative number: InvalidArgument). A command that timed out before it could be written
   *   (while disconnected, or while the output was backed up) is never sent; one already written stays in line and its late reply
   *   is read and dropped (given to `late`), keeping replies matched to commands.
   *   signal: an AbortSignal; its abort rejects with its reason, as a timeout does (an aborted
   *   signal: at once, and nothing is sent)
   *   decode: a reply decoder for a call not in `replyDecoders`
   *   gaveUp: called with the command's entry when its caller stops waiting (timeout or abort)
   * @returns {Promise<any>}
   */
  command(bytes, call, opts = {}) {
    return new Promise((resolve, reject) => {
      if (this.state === 'closed') throw new ConnectionClosed();
      const decoder = opts.decode ?? replyDecoders[call];
      if (!decoder) throw new InvalidArgument(`no reply decoder for ${call}`);
      this._checkLine(bytes);
      const timeout = opts.timeout === undefined ? this._commandTimeout() : opts.timeout === null ? Infinity : checkTimeout(opts.timeout);
      const signal = checkSignal(opts.signal);
      if (signal?.aborted) throw signal.reason;
      /** @type {import('./timers.js').Timer|undefined} */
      let timer;
      const abort = () => {
        if (entry.settled) return;
        this._settle(entry, /** @type {AbortSignal} */ (signal).reason);
        opts.gaveUp?.(entry);
      };
      const stop = () => {
        clearTimer(timer);
        signal?.removeEventListener('abort', abort);
      };
      /** @type {Pending} */
      const entry = {
        call,
        decode: decoder,
        resolve: (v) => {
          stop();
          resolve(v);
        },
        reject: (e) => {
          stop();
          reject(e);
        },
        settled: false,
        written: false,
        late: opts.late,
        serverWait: opts.serverWait,
      };
      // Written now when connected with room (and nothing held before it), else held in the
      // outbox; a full outbox throws here, before any timer is set (nothing was sent).
      if (this.state === 'connected' && this.outbox.length === 0 && this._roomFor(bytes.length)) this._expect(bytes, entry);
      else this._hold(bytes, entry);
      const expire = () => {
        if (entry.settled) return;
        this._settle(entry, commandTimeout(call, timeout, entry.written, this.state === 'connected'));
        opts.gaveUp?.(entry);
      };
      if (timeout === 0) expire();
      else if (timeout !== Infinity) timer = setTimer(expire, timeout);
      // Like a timeout: an abort before the command is written keeps it from being sent; after,
      // it stays in line and its late reply goes to `late`, never to the next caller.
      if (!entry.settled) signal?.addEventListener('abort', abort, { once: true });
    });
  }

  /** The limit of a command without a timeout of its own: commandTimeoutMs (0 or null: none). @internal */
  _commandTimeout() {
    const t = this.options.commandTimeoutMs;
    return t === null || t === undefined || t === 0 ? Infinity : t;
  }

  /** @param {import('./protocol.js').Frame} frame @internal */
  _onFrame(frame) {
    /** @type {Pending|undefined} */
    const head = this.inflight.peek();
    let routed;
    try {
      routed = route(frame, head?.call, head?.decode);
    } catch (err) {
      // A reply nobody waits for, or one that does not fit: replies no longer line up with
      // commands, so start over on a new connection (everything waiting gets ConnectionLost).
      if (head) {
        this.inflight.shift();
        this._settle(head, /** @type {Error} */ (err));
      }
      this._protocolFailure(/** @type {Error} */ (err));
      return;
    }
    switch (routed.to) {
      case 'message':
        this._onMsg(routed.frame);
        return;
      case 'ping':
        this._owePong();
        return;
      case 'info':
        this.info = { ...this.info, ...routed.info };
        this._applyInfoLimits();
        return;
      case 'server_error': {
        // A NATS error: it answers no command; fatal ones are followed by the server closing.
        const permission = parsePermissionViolation(routed.text);
        if (permission) {
          // Not fatal: the connection stays. What it names ends (a subscription) or fails (a request).
          this._onPermissionViolation(permission);
          this._asyncError(permission);
          return;
        }
        const err = new ServerError(routed.text);
        this.lastError = err;
        this._asyncError(err);
        return;
      }
      case 'reply':
        // Only a reply proves the server still reads and answers this connection (the PONG of a
        // keep-alive PING comes after the replies before it): messages and the server's own PINGs
        // can keep coming from a server whose handling of our commands is stuck.
        this._pingsOut = 0;
        this.inflight.shift();
        if (head) this._holding.delete(head);
        if ('error' in routed) this._settle(/** @type {Pending} */ (head), routed.error);
        else if (head?.settled) head.late?.(routed.value);
        else this._settle(/** @type {Pending} */ (head), null, routed.value);
    }
  }

  /**
   * A refused subscription ends with the error; a request to a refused subject rejects with it.
   * @param {PermissionError} err @internal
   */
  _onPermissionViolation(err) {
    if (err.subject === null) return;
    if (err.operation === 'subscribe') {
      for (const sub of [...this.subs.values()]) {
        if (sub.subject !== err.subject || (err.queue !== null && sub.queue !== err.queue)) continue;
        this.subs.delete(String(sub.sid));
        if (sub === this.inboxSub) this.inboxSub = null;
        sub._end(err);
      }
      if (this.inboxPrefix !== null && err.subject === `${this.inboxPrefix}.*`) {
        for (const [token, r] of this.requests) {
          clearTimer(r.timer);
          this.requests.delete(token);
          r.reject(err);
        }
      }
    } else if (err.operation === 'publish') {
      for (const [token, r] of this.requests) {
        if (r.subject !== err.subject) continue;
        clearTimer(r.timer);
        this.requests.delete(token);
        r.reject(err);
      }
    }
  }

  /** @param {any} frame @internal */
  _onMsg(frame) {
    const sub = this.subs.get(frame.sid);
    if (!sub) return; // a message that was on its way when we unsubscribed
    sub._deliver(new Msg(this, frame));
  }

  // -------------------------------------------------------------------------------------------
  // NATS core

  /**
   * Resolves once the server has handled everything sent before (PING → PONG). `timeout` in ms
   * (default `commandTimeoutMs`; null or Infinity: no limit; 0: TimeoutError at once); `signal`:
   * an AbortSignal whose abort rejects with its reason.
   * @param {{timeout?: number|null, signal?: AbortSignal}} [opts]
   * @returns {Promise<void>}
   */
  flush(opts = {}) {
    try {
      opts = checkOptionNames(opts, ['timeout', 'signal'], 'flush option');
    } catch (err) {
      return Promise.reject(err);
    }
    return this.command(PING, 'ping', { timeout: opts.timeout, signal: opts.signal });
  }

  /**
   * The `commandTimeoutMs` of a RESERVE or WAIT: none when it waits for as long as it takes, else
   * its wait plus commandTimeoutMs.
   * @param {number|string|undefined|null} wait @internal
   */
  _waitingTimeout(wait) {
    const t = this.options.commandTimeoutMs;
    if (wait === undefined || wait === null || t === null || t === undefined || !(t > 0) || !Number.isFinite(t)) return null;
    return durationMs(wait) + t;
  }

  /** @param {number} n @internal */
  _checkPayload(n) {
    const max = this._maxPayload();
    if (max !== undefined && n > max) throw new InvalidArgument(`payload of ${n} bytes is over the server's max_payload of ${max}`);
  }

  /**
   * Publishes a message (fire and forget; it is held and sent after a reconnect while disconnected).
   * @param {string} subject
   * @param {unknown} [data] Buffer, string, or a value sent as JSON
   * @param {{reply?: string, headers?: Record<string, string|string[]>|Map<string, string|string[]>|import('./protocol.js').MsgHeaders}} [opts]
   */
  publish(subject, data, opts = {}) {
    const o = checkOptionNames(opts, ['reply', 'headers'], 'publish option');
    const bytes = this._encodePublish(subject, data, o);
    this._send(bytes);
  }

  /**
   * PUB/HPUB bytes, checked against the server's max_payload (InvalidArgument).
   * @param {string} subject @param {unknown} data @param {{reply?: string, headers?: any}} opts
   * @internal
   */
  _encodePublish(subject, data, opts) {
    const bytes = encodePublish(subject, data, opts);
    this._checkPayload(bytes.length - bytes.indexOf(10) - 3);
    return bytes;
  }

  /**
   * Subscribes to a subject (wildcards `*` and `>` allowed). Every option is checked before
   * anything is sent or registered: a bad one throws InvalidArgument and leaves no trace.
   * `max: 0` gives a subscription that has already ended (nothing is sent).
   * @param {string} subject
   * @param {{queue?: string, max?: number, callback?: (err: Error|null, msg: Msg|null) => void, maxPendingMsgs?: number, maxPendingBytes?: number}} [opts]
   * @returns {Subscription}
   */
  subscribe(subject, opts = {}) {
    const o = checkOptionNames(opts, ['queue', 'max', 'callback', 'maxPendingMsgs', 'maxPendingBytes'], 'subscribe option');
    if (this.state === 'closed') throw new ConnectionClosed();
    const max = o.max ?? undefined;
    if (max !== undefined && (!Number.isSafeInteger(max) || max < 0)) throw new InvalidArgument(`max must be a non-negative integer (got ${String(max)})`);
    const callback = o.callback ?? undefined;
    if (callback !== undefined && typeof callback !== 'function') throw new InvalidArgument('callback must be a function');
    /** @param {'maxPendingMsgs'|'maxPendingBytes'} name */
    const pendingLimit = (name) => {
      const v = o[name] ?? this.options[name];
      if (v !== Infinity && (!Number.isSafeInteger(v) || v <= 0)) throw new InvalidArgument(`${name} must be a positive integer or Infinity (got ${String(v)})`);
      return v;
    };
    const limits = { maxPendingMsgs: pendingLimit('maxPendingMsgs'), maxPendingBytes: pendingLimit('maxPendingBytes') };
    const sid = this.nextSid;
    let bytes = encodeSub(subject, sid, { queue: o.queue });
    const sub = new Subscription(this, sid, subject, { queue: o.queue ?? undefined, max, callback, ...limits });
    this.nextSid++;
    if (max === 0) {
      // It may receive nothing: there is nothing to subscribe to on the server.
      sub._end();
      return sub;
    }
    if (max !== undefined) bytes = Buffer.concat([bytes, encodeUnsub(sid, max)]);
    this._send(bytes, { control: true }); // throws (outbox full while disconnected) before it is registered
    this.subs.set(String(sid), sub);
    return sub;
  }

  /** @param {Subscription} sub @param {number} [max] @internal */
  _unsubscribe(sub, max) {
    if (max !== undefined && max !== null && (!Number.isSafeInteger(max) || max < 0)) {
      throw new InvalidArgument(`max must be a non-negative integer (got ${String(max)})`);
    }
    if (sub.isClosed || this.state === 'closed') return;
    if (max !== undefined && max !== null && max > sub.received) {
      const bytes = encodeUnsub(sub.sid, max);
      sub.max = max;
      try {
        this._send(bytes, { control: true });
      } catch {
        // Disconnected with a full outbox: the next connection's handshake sends what is left of max.
      }
      return;
    }
    this._finishSubscription(sub);
    try {
      this._send(encodeUnsub(sub.sid), { control: true });
    } catch {
      // Disconnected with a full outbox: the next connection does not subscribe it again anyway.
    }
  }

  /** @param {Subscription} sub @internal */
  _finishSubscription(sub) {
    this.subs.delete(String(sub.sid));
    sub._end();
  }

  /**
   * Publishes a request and resolves with the first reply. Rejects with NoResponders when no
   * subscription received it, TimeoutError after `timeout` ms, ConnectionLost if the connection
   * breaks first, and with the signal's reason when `signal` (an AbortSignal) aborts.
   * @param {string} subject
   * @param {unknown} [data]
   * @param {{timeout?: number, headers?: any, signal?: AbortSignal}} [opts]
   * @returns {Promise<Msg>}
   */
  request(subject, data, opts = {}) {
    return this._request(subject, data, opts, null);
  }

  /**
   * Publishes a message that routes (`route()`) turn into jobs, and resolves with the ids of those
   * jobs once they are on disk: the server publishes `{"jobs":[...]}` to the message's reply
   * subject after the commit (answers subscribers send to it are skipped). Subscribers still get
   * the message. Resolves `[]` when neither a route nor a subscriber took the message (no
   * responders); rejects with StoreFull when the store refused the routed jobs (none was made),
   * and with TimeoutError when no route matched but a subscriber did not answer either.
   * @param {string} subject
   * @param {unknown} [data]
   * @param {{timeout?: number, headers?: any, signal?: AbortSignal}} [opts]
   * @returns {Promise<number[]>}
   */
  async publishRouted(subject, data, opts = {}) {
    let msg;
    try {
      msg = await this._request(subject, data, opts, (m) => isRoutedReply(m.data));
    } catch (err) {
      if (err instanceof NoResponders) return [];
      throw err;
    }
    return parseRoutedReply(msg.data);
  }

  /**
   * @param {string} subject @param {unknown} data @param {{timeout?: number, headers?: any, signal?: AbortSignal}} opts
   * @param {((m: Msg) => boolean)|null} accept replies it refuses are skipped
   * @returns {Promise<Msg>}
   * @internal
   */
  _request(subject, data, opts, accept) {
    return new Promise((resolve, reject) => {
      if (this.state === 'closed') throw new ConnectionClosed();
      const o = checkOptionNames(opts, ['timeout', 'headers', 'signal'], 'request option');
      const timeout = o.timeout === undefined || o.timeout === null ? this.options.requestTimeoutMs : checkTimeout(o.timeout);
      const signal = checkSignal(o.signal);
      if (signal?.aborted) throw signal.reason;
      // Every argument is checked before anything is sent (the inbox subscription included).
      this.inboxPrefix ??= `_INBOX.${randomBytes(12).toString('hex')}`;
      const token = String(this.nextRequest);
      const bytes = this._encodePublish(subject, data, { reply: `${this.inboxPrefix}.${token}`, headers: o.headers });
      this._checkLine(bytes);
      if (!this.inboxSub) {
        this.inboxSub = this.subscribe(`${this.inboxPrefix}.*`, {
          callback: (_err, msg) => msg && this._onReply(msg),
        });
      }
      this.nextRequest++;
      // held: not written yet (disconnected, or the output backed up); such a request survives a
      // failed reconnect attempt
      const abort = () => {
        // Its token is forgotten: a reply that comes later is dropped, never given to another request.
        if (this.requests.get(token) !== r) return;
        this.requests.delete(token);
        clearTimer(r.timer);
        reject(/** @type {AbortSignal} */ (signal).reason);
      };
      const settle = {
        /** @param {Msg} m */
        resolve: (m) => {
          signal?.removeEventListener('abort', abort);
          resolve(m);
        },
        /** @param {Error} e */
        reject: (e) => {
          signal?.removeEventListener('abort', abort);
          reject(e);
        },
      };
      const r = { ...settle, timer: /** @type {import('./timers.js').Timer|undefined} */ (undefined), subject, held: true, accept };
      this.requests.set(token, r);
      try {
        this._send(bytes, { onWritten: () => (r.held = false) });
      } catch (err) {
        this.requests.delete(token);
        throw err;
      }
      const expire = () => {
        this.requests.delete(token);
        r.reject(new TimeoutError(`no reply to ${subject} within ${timeout}ms`));
      };
      if (timeout === 0) expire();
      else {
        r.timer = setTimer(expire, timeout);
        signal?.addEventListener('abort', abort, { once: true });
      }
    });
  }

  /** @param {Msg} msg @internal */
  _onReply(msg) {
    const token = msg.subject.slice(/** @type {string} */ (this.inboxPrefix).length + 1);
    const r = this.requests.get(token);
    if (!r) return;
    const noResponders = msg.status === 503 && msg.data.length === 0;
    if (!noResponders && r.accept && !r.accept(msg)) return; // not the reply it waits for
    this.requests.delete(token);
    clearTimer(r.timer);
    if (noResponders) r.reject(new NoResponders(r.subject));
    else r.resolve(msg);
  }

  // -------------------------------------------------------------------------------------------
  // Jobs

  /**
   * Adds a job to a queue. Durations are milliseconds (numbers) or strings like "250ms", "30s".
   * With `ttl` (a duration) or `expires` (a Date or unix ms; not both), a job not started by then
   * is not run: it becomes dead (one whose expiry has already passed is dead at once). With
   * `after` (job ids), it stays `blocked` until every one of them has completed; `onParentDead`
   * says what a parent's death does to it (`fail`, the default, or `run`). With `key`: `keyTtl`
   * keeps the key known at least that long, `replace: true` makes a duplicate of a job still
   * waiting or delayed replace it (`{replaced: true}`).
   * @param {string} queue
   * @param {unknown} payload Buffer, string, or a value sent as JSON
   * @param {import('./protocol.js').EnqueueOptions} [opts]
   * @returns {Promise<{id: number|string, duplicate: boolean, replaced: boolean}>}
   */
  async enqueue(queue, payload, opts = {}) {
    const bytes = toBytes(payload);
    this._checkPayload(bytes.length);
    return this.command(encodeEnqueue(queue, bytes, opts), 'enqueue');
  }

  /**
   * Enqueues several jobs together (`BATCH`): all of them, in one commit, or none. Each job is
   * `{queue, payload, ...enqueue options}`; a job's `after` may name an earlier job of the same
   * batch as `'#<n>'` (`'#1'` is the first), so a whole flow (children, then the job that gathers
   * their results) is made at once. Every job is checked before anything is sent: one the server
   * would refuse throws InvalidArgument, naming it, and nothing is enqueued. Resolves with the ids
   * in the order of `jobs` (a job whose `key` names a known job gets that job's id). A refusal by
   * the server (a parent it does not know, a full store, `--max-batch`) rejects with its
   * DocketError, and none of the jobs was made.
   * @param {import('./protocol.js').BatchJob[]} jobs at least one
   * @returns {Promise<(number|string)[]>}
   */
  async batch(jobs) {
    const bytes = encodeBatch(jobs, { maxPayload: this._maxPayload(), maxControlLine: this.options.maxControlLine });
    const count = jobs.length;
    return this.command(bytes, 'batch', {
      decode: (f) => {
        const ids = replyDecoders.batch(f);
        if (ids.length !== count) throw new ProtocolError(`a batch of ${count} jobs was answered with ${ids.length} ids`);
        return ids;
      },
    });
  }

  /**
   * The jobs `id` was enqueued after (`PARENTS`), in the order of its `after`, with their
   * outcomes: `{id, queue, state, result, error}` (`result` and `error` UTF-8 text or null), or
   * `{id, state: 'deleted'}` for one deleted since; `[]` for a job without parents. NotFound for
   * an unknown job.
   * @param {number|string} id
   * @returns {Promise<ParentInfo[]>}
   */
  async parents(id) {
    return this.command(encodeParents(id), 'parents');
  }

  /**
   * One page of a job's children (the jobs enqueued `after=` it that still exist), by id
   * (`CHILDREN`): `{id, children, next}`, up to `limit` (1..1000, server default 1000) above
   * `after`; `next` is the id to pass as the next page's `after`, null on the last page.
   * INSPECT lists the first 1000 only; `childrenAll()` reads them all.
   * @param {number|string|bigint} id
   * @param {{after?: number|string|bigint|null, limit?: number}} [opts]
   * @returns {Promise<{id: number|string, children: (number|string)[], next: number|string|null}>}
   */
  async children(id, opts = {}) {
    return this.command(encodeChildren(id, opts), 'children');
  }

  /**
   * Every child of a job, by id, as an async iterator: `children()` page after page, following
   * `next`. Bad arguments throw InvalidArgument at once.
   * @param {number|string|bigint} id
   * @param {{pageSize?: number}} [opts]
   * @returns {AsyncIterableIterator<number|string>}
   */
  childrenAll(id, opts = {}) {
    const { pageSize } = checkOptionNames(opts, ['pageSize'], 'childrenAll option');
    encodeChildren(id, { limit: pageSize });
    const client = this;
    return (async function* pages() {
      /** @type {number|string|bigint|null} */
      let after = null;
      for (;;) {
        const page = await client.children(id, { after, limit: pageSize });
        yield* page.children;
        if (page.next === null || page.next === undefined) return;
        after = page.next;
      }
    })();
  }

  /**
   * Takes the next job from the first of `queues` that has one. Without `timeout` it waits until a
   * job comes, and the connection handles nothing else meanwhile; with it, it resolves null when
   * the time passes (`timeout: 0` does not wait). `signal`: an AbortSignal whose abort rejects
   * with its reason and ends the server's wait (CANCEL) when nothing was sent after the RESERVE,
   * so the connection's next command is answered at once; a job that won the race (or came to
   * a RESERVE with commands behind it) is given back at once.
   * @param {string|string[]} queues
   * @param {{timeout?: number|string, signal?: AbortSignal}} [opts]
   * @returns {Promise<import('./protocol.js').Job|null>}
   */
  async reserve(queues, opts = {}) {
    const { signal, ...rest } = checkOptionNames(opts, ['timeout', 'signal'], 'reserve option');
    opts = rest;
    return this.command(encodeReserve(queues, opts), 'reserve', {
      signal,
      timeout: this._waitingTimeout(opts.timeout),
      serverWait: serverWait(opts.timeout),
      gaveUp: this._serverWaitEnder(opts.timeout),
      // A job that arrives after its caller gave up is held by this connection, and nobody will
      // run it: give it back at once instead of letting its lease run out.
      late: (job) => {
        if (!job || this.state === 'closed') return;
        const reason = 'reservation abandoned: the client had stopped waiting for it';
        this.command(encodeFail(job.id, { reason: Buffer.from(reason), retry: 0 }), 'fail').catch(() => {});
      },
    });
  }

  /**
   * What a RESERVE or WAIT with `timeout` does when its caller gives up: ends the server's wait,
   * but for `timeout: 0`, which the server answers at once and never holds the connection for (a
   * CANCEL behind it would end nothing and only add a `+OK`).
   * @param {number|string|undefined|null} timeout @returns {((entry: Pending) => void)|undefined}
   */
  _serverWaitEnder(timeout) {
    return serverWait(timeout) === 0 ? undefined : (entry) => this._endServerWait(entry);
  }

  /**
   * A RESERVE or WAIT whose caller gave up (abort, timeout): a CANCEL right behind it (when
   * nothing was written after it) ends the server's wait, answered as at its timeout, so the
   * connection serves its next command at once and no job is handed out for nobody.
   * @param {Pending} entry
   */
  _endServerWait(entry) {
    if (entry.written && this.state === 'connected' && this.outbox.length === 0 && this.inflight.last() === entry) {
      this.command(CANCEL, 'cancel').catch(() => {});
    }
  }

  /**
   * Completes a job this connection holds, keeping an optional result. With `attempt` (the
   * attempt held, `job.attempt`), the server refuses it (NOT_HELD) when the job has moved on.
   * @param {number|string} id @param {unknown} [result] @param {{attempt?: number}} [opts]
   * @returns {Promise<void>}
   */
  async ack(id, result, opts = {}) {
    opts = checkOptionNames(opts, ['attempt'], 'ack option');
    const bytes = result === undefined || result === null ? null : toBytes(result);
    if (bytes) this._checkPayload(bytes.length);
    return this.command(encodeAck(id, bytes, opts.attempt), 'ack');
  }

  /**
   * Ends this attempt of a job. `retry`: a delay (ms or "5s") instead of the backoff, or false for
   * no retry (dead at once). `throttle` (a duration, ms or "30s"; not with `retry`): the job goes
   * back to waiting without using up an attempt and its queue, or with `scope: 'group'` its group,
   * starts nothing for that long. `attempt`: the attempt held (see ack).
   * @param {number|string} id
   * @param {{reason?: unknown, retry?: number|string|false, attempt?: number, throttle?: number|string, scope?: 'queue'|'group'}} [opts]
   * @returns {Promise<{outcome: 'retry', delayMs: number} | {outcome: 'dead'} | {outcome: 'throttled', delayMs: number}>}
   */
  async fail(id, opts = {}) {
    opts = checkOptionNames(opts, ['reason', 'retry', 'attempt', 'throttle', 'scope'], 'fail option');
    let reason = opts.reason instanceof Error ? opts.reason.message : opts.reason;
    const bytes = reason === undefined || reason === null ? null : toBytes(reason);
    if (bytes) this._checkPayload(bytes.length);
    return this.command(encodeFail(id, { ...opts, reason: bytes }), 'fail');
  }

  /**
   * Records progress (0..100) with an optional note, and extends the lease. `attempt`: see ack.
   * @param {number|string} id @param {number} percent @param {unknown} [note] @param {{attempt?: number}} [opts]
   * @returns {Promise<void>}
   */
  async progress(id, percent, note, opts = {}) {
    opts = checkOptionNames(opts, ['attempt'], 'progress option');
    const bytes = note === undefined || note === null ? null : toBytes(note);
    if (bytes) this._checkPayload(bytes.length);
    return this.command(encodeProgress(id, percent, bytes, opts.attempt), 'progress');
  }

  /**
   * Extends the lease of a job this connection holds (heartbeat). `attempt`: see ack.
   * @param {number|string} id @param {{attempt?: number}} [opts]
   * @returns {Promise<void>}
   */
  async touch(id, opts = {}) {
    opts = checkOptionNames(opts, ['attempt'], 'touch option');
    return this.command(encodeTouch(id, opts.attempt), 'touch');
  }

  /** One job as a document (see PROTOCOL.md). @param {number|string} id @returns {Promise<JobInfo>} */
  async inspect(id) {
    return this.command(encodeInspect(id), 'inspect');
  }

  /**
   * Waits until a job is completed or dead (`WAIT`), and resolves with its outcome: at once if it
   * already is. With `timeout`, resolves `{pending: true, state}` (its state then) when the time
   * passes first; without, waits as long as it takes. Like a RESERVE, a waiting WAIT holds back
   * this connection's later commands on the server: wait on a client of its own when others share
   * it. Rejects with DocketError NOT_FOUND for an unknown job, or one deleted while waited for.
   * `signal`: an AbortSignal whose abort rejects with its reason and ends the server's wait
   * (CANCEL) when nothing was sent after the WAIT, as for `reserve`.
   * @param {number|string} id
   * @param {{timeout?: number|string, signal?: AbortSignal}} [opts]
   * @returns {Promise<import('./protocol.js').JobOutcome>}
   */
  async wait(id, opts = {}) {
    const { signal, ...rest } = checkOptionNames(opts, ['timeout', 'signal'], 'wait option');
    return this.command(encodeWait(id, rest), 'wait', {
      signal,
      timeout: this._waitingTimeout(rest.timeout),
      serverWait: serverWait(rest.timeout),
      gaveUp: this._serverWaitEnder(rest.timeout),
    });
  }

  /** A queue's dead jobs, oldest first. @param {string} queue @param {{limit?: number}} [opts] @returns {Promise<JobInfo[]>} */
  async dead(queue, opts = {}) {
    return this.command(encodeDead(queue, opts), 'dead');
  }

  /** Runs a dead job again, with its attempts reset. @param {number|string} id @returns {Promise<void>} */
  async retry(id) {
    return this.command(encodeRetry(id), 'retry');
  }

  /** Runs every dead job of a queue again; resolves with how many. @param {string} queue @returns {Promise<number>} */
  async retryQueue(queue) {
    return this.command(encodeRetryQueue(queue), 'retry_queue');
  }

  /** Forgets a job in any state. @param {number|string} id @returns {Promise<void>} */
  async delete(id) {
    return this.command(encodeDelete(id), 'delete');
  }

  // -------------------------------------------------------------------------------------------
  // Browsing and bulk repair

  /**
   * One page of a queue's jobs in one state (`LIST`): `{queue, state, jobs, next}`. `state`:
   * `waiting` (the server's default), `delayed`, `blocked`, `active`, `completed` or `dead`; `limit` 1..1000
   * (server default 100); `after`: the `next` of the page before (null on the last page). Paging
   * is stable while jobs come and go. `listAll()` follows the cursors for you.
   * @param {string} queue
   * @param {{state?: JobInfo['state'], after?: string|null, limit?: number}} [opts]
   * @returns {Promise<JobPage>}
   */
  async list(queue, opts = {}) {
    return this.command(encodeList(queue, opts), 'list');
  }

  /**
   * Every job of a queue in one state (default `waiting`), in the state's order, as an async
   * iterator: `list()` page after page (`pageSize` jobs each, server default 100), following the
   * `next` cursors; a page is fetched when the one before is used up. Bad arguments throw
   * InvalidArgument at once.
   * @param {string} queue
   * @param {{state?: JobInfo['state'], pageSize?: number}} [opts]
   * @returns {AsyncIterableIterator<JobInfo>}
   */
  listAll(queue, opts = {}) {
    const { state, pageSize } = checkOptionNames(opts, ['state', 'pageSize'], 'listAll option');
    encodeList(queue, { state, limit: pageSize }); // refuse bad arguments now, not at the first page
    const client = this;
    return (async function* pages() {
      /** @type {string|null} */
      let after = null;
      for (;;) {
        const page = await client.list(queue, { state, after, limit: pageSize });
        yield* page.jobs;
        // A cursor handed back unchanged with no jobs would never end.
        if (page.next === null || (page.next === after && page.jobs.length === 0)) return;
        after = page.next;
      }
    })();
  }

  /**
   * Deletes a queue's jobs in `state` (`waiting`, `delayed`, `blocked`, `completed` or `dead`;
   * never `active`), with `older` only those that entered it longer ago than that (`PURGE`).
   * Resolves with how many, once the deletion is on disk.
   * @param {string} queue
   * @param {{state: 'waiting'|'delayed'|'blocked'|'completed'|'dead', older?: number|string}} opts
   * @returns {Promise<number>}
   */
  async purge(queue, opts) {
    return this.command(encodePurge(queue, opts), 'purge');
  }

  /**
   * A delayed job waits from now on, behind the jobs that became runnable before it (`PROMOTE`).
   * Rejects with NotDelayed for a job in any other state, NotFound for an unknown one.
   * @param {number|string} id @returns {Promise<void>}
   */
  async promote(id) {
    return this.command(encodePromote(id), 'promote');
  }

  /** The server's list of verbs. @returns {Promise<string>} */
  async help() {
    return this.command(encodeHelp(), 'help');
  }

  // -------------------------------------------------------------------------------------------
  // Queue policies, counters, routes, lifecycle events

  /**
   * A queue's settings and state (`QUEUE <queue>`). Reading never creates the queue: an unknown
   * one reads as empty with default settings.
   * @param {string} name @returns {Promise<QueueInfo>}
   */
  async queue(name) {
    return this.command(encodeQueue(name), 'queue');
  }

  /**
   * One page of the queues' documents (of the queues this user may read), by name (`QUEUES`): up
   * to `limit` (1..1000, server default 1000) of those named after `after`, fewer where the
   * server's max_payload ends the page; empty past the last. Pass the last `queue` of a page as
   * the next one's `after`.
   * @param {{after?: string|null, limit?: number}} [opts]
   * @returns {Promise<QueueInfo[]>}
   */
  async queues(opts = {}) {
    return this.command(encodeQueues(opts), 'queues');
  }

  /** The server's counters (`STATS`). @returns {Promise<ServerStats>} */
  async stats() {
    return this.command(encodeStats(), 'stats');
  }

  /**
   * Changes a queue's settings (`QUEUE <queue> <setting>=<value> ...`, persisted; resolves once
   * on disk). A setting given as `null` goes back to its default (`none`); one left out is kept.
   * @param {string} name
   * @param {import('./protocol.js').QueueSettings} settings
   * @returns {Promise<void>}
   */
  async setQueue(name, settings) {
    return this.command(encodeQueueSet(name, settings), 'queue_set');
  }

  /** Nothing of the queue starts until resume(); ENQ still works (persisted). @param {string} name @returns {Promise<void>} */
  async pause(name) {
    return this.command(encodePause(name), 'pause');
  }

  /** Starts a paused queue again. @param {string} name @returns {Promise<void>} */
  async resume(name) {
    return this.command(encodeResume(name), 'resume');
  }

  /**
   * Turns every message published on a matching subject into a job on `queue` (persisted).
   * Options are the ENQ options but `key`, `at` and `expires` (`ttl` counts from each job's ENQ).
   * @param {string} pattern a subject, wildcards allowed (not `$…`)
   * @param {string} queue
   * @param {import('./protocol.js').RouteOptions} [options]
   * @returns {Promise<number>} the route id
   */
  async route(pattern, queue, options = {}) {
    return this.command(encodeRoute(pattern, queue, options), 'route');
  }

  /** Removes a route; DocketError NOT_FOUND when there is none with that id. @param {number|string} id @returns {Promise<void>} */
  async unroute(id) {
    return this.command(encodeUnroute(id), 'unroute');
  }

  /**
   * Every route (of the queues this user may read), by id: `routesPage()` page after page, each
   * after the last id of the one before, until one is empty.
   * @returns {Promise<RouteInfo[]>}
   */
  async routes() {
    const all = [];
    for (;;) {
      const page = await this.routesPage(all.length ? { after: all[all.length - 1].id } : {});
      if (page.length === 0) return all;
      all.push(...page);
    }
  }

  /**
   * One page of the routes, by id (`ROUTES`): up to `limit` (1 to 1000, server default 1000) of
   * those whose id is above `after`, fewer where the server's max_payload ends the page; empty
   * past the last. @param {{after?: number|string|null, limit?: number|null}} [opts]
   * @returns {Promise<RouteInfo[]>}
   */
  async routesPage(opts = {}) {
    return this.command(encodeRoutes(opts), 'routes');
  }

  /**
   * Creates or replaces the schedule `name` (`SCHEDULE`; resolves once on disk): each tick
   * enqueues one job on `queue` with `payload` and the ENQ options given, keyed `<name>@<tick>`
   * (the tick in unix ms). Exactly one of `cron` (5 fields, or 6 with seconds first, read in `tz`,
   * default UTC) and `every` (ms or "1m", at least 1 s). `catchup`: what ticks missed while
   * docketd was down make (`none`, `one` — the server's default — or `all`). No `key`, `at`,
   * `delay` or `expires`; `ttl` counts from each job's ENQ. A replaced schedule starts afresh.
   * @param {string} name spelled like a queue name
   * @param {string} queue
   * @param {unknown} payload each tick's job payload (Buffer, string, or a value sent as JSON)
   * @param {import('./protocol.js').ScheduleOptions} opts
   * @returns {Promise<void>}
   */
  async schedule(name, queue, payload, opts) {
    const bytes = toBytes(payload);
    this._checkPayload(bytes.length);
    return this.command(encodeSchedule(name, queue, bytes, opts), 'schedule');
  }

  /** Removes a schedule (`UNSCHEDULE`); NotFound when there is none of that name. @param {string} name @returns {Promise<void>} */
  async unschedule(name) {
    return this.command(encodeUnschedule(name), 'unschedule');
  }

  /**
   * One page of the schedules (of the queues this user may read), by name (`SCHEDULES`): up to
   * `limit` (1..1000, server default 100) of those named after `after`; empty past the last.
   * `schedulesAll()` reads them all.
   * @param {{after?: string|null, limit?: number}} [opts]
   * @returns {Promise<ScheduleInfo[]>}
   */
  async schedules(opts = {}) {
    return this.command(encodeSchedules(opts), 'schedules');
  }

  /**
   * Every schedule, by name, as an async iterator: `schedules()` page after page, each after the
   * last name of the one before, until one is empty. Bad arguments throw InvalidArgument at once.
   * @param {{pageSize?: number}} [opts]
   * @returns {AsyncIterableIterator<ScheduleInfo>}
   */
  schedulesAll(opts = {}) {
    const { pageSize } = checkOptionNames(opts, ['pageSize'], 'schedulesAll option');
    encodeSchedules({ limit: pageSize });
    const client = this;
    return (async function* pages() {
      /** @type {string|null} */
      let after = null;
      for (;;) {
        const page = await client.schedules({ after, limit: pageSize });
        if (page.length === 0) return;
        yield* page;
        after = page[page.length - 1].name;
      }
    })();
  }

  /**
   * Pauses a schedule (`PAUSE schedule=<name>`): ticks that pass meanwhile are skipped, whatever
   * its `catchup`. NotFound when there is none of that name.
   * @param {string} name @returns {Promise<void>}
   */
  async pauseSchedule(name) {
    return this.command(encodePauseSchedule(name), 'pause_schedule');
  }

  /** Resumes a paused schedule (`RESUME schedule=<name>`). @param {string} name @returns {Promise<void>} */
  async resumeSchedule(name) {
    return this.command(encodeResumeSchedule(name), 'resume_schedule');
  }

  /**
   * Lifecycle events of a queue (`$JOB.<queue>.>`), or of every queue when `queue` is omitted or
   * `'*'`, as an async iterator of plain objects. `events` keeps only those kinds (the
   * subscription is on `$JOB.<queue>.<event>` when there is one). Events published before the
   * subscription reached the server are not seen: `await client.flush()` after this call to be
   * sure it has.
   * `maxPendingMsgs` / `maxPendingBytes`: the subscription's limits of unread events (see subscribe).
   * @param {string} [queue]
   * @param {{events?: JobEvent['event'][], maxPendingMsgs?: number, maxPendingBytes?: number}} [opts]
   * @returns {JobEvents}
   */
  events(queue = '*', opts = {}) {
    const o = checkOptionNames(opts, ['events', 'maxPendingMsgs', 'maxPendingBytes'], 'events option');
    const q = queue === '*' ? '*' : checkQueue(queue);
    const kinds = o.events ?? [];
    if (!Array.isArray(kinds)) throw new InvalidArgument('events must be a list of event names');
    for (const k of kinds) {
      if (typeof k !== 'string' || !/^[a-z]+$/.test(k)) throw new InvalidArgument(`invalid event name ${JSON.stringify(k)}`);
    }
    const subject = kinds.length === 1 ? `$JOB.${q}.${kinds[0]}` : `$JOB.${q}.>`;
    const sub = this.subscribe(subject, { maxPendingMsgs: o.maxPendingMsgs, maxPendingBytes: o.maxPendingBytes });
    const events = new JobEvents(sub);
    if (kinds.length > 1) {
      const wanted = new Set(kinds);
      const iterate = events[Symbol.asyncIterator].bind(events);
      events[Symbol.asyncIterator] = () => {
        const it = iterate();
        return {
          next: async () => {
            for (;;) {
              const r = await it.next();
              if (r.done || wanted.has(r.value.event)) return r;
            }
          },
          return: () => it.return(),
        };
      };
    }
    return events;
  }
}
