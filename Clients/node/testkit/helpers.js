// Test helpers: start a real docketd on a free port with a temporary data dir; bounded waits.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const DOCKETD = process.env.DOCKETD ?? path.resolve(here, '../../../.build/debug/docketd');

/**
 * The job store under test: with DOCKET_TEST_STORE=postgres (under scripts/with-postgres.sh,
 * which sets DOCKET_TEST_POSTGRES) every server keeps its jobs in a new database of that
 * cluster, the same one again when it restarts on the same data directory.
 */
export const STORE = process.env.DOCKET_TEST_STORE ?? 'lmdb';
const databases = new Map();

/** @param {string} dataDir @param {string[]} args */
function storeArgs(dataDir, args) {
  if (STORE !== 'postgres' || args.some((a) => a === '--store' || a.startsWith('--store='))) return [];
  const url = process.env.DOCKET_TEST_POSTGRES;
  if (!url) throw new Error('DOCKET_TEST_STORE=postgres needs DOCKET_TEST_POSTGRES (run under scripts/with-postgres.sh)');
  if (!databases.has(dataDir)) {
    const name = `nodeclient_${process.pid}_${databases.size}`;
    const psql = process.env.DOCKET_PG_BIN ? path.join(process.env.DOCKET_PG_BIN, 'psql') : 'psql';
    execFileSync(psql, ['-X', '-q', url, '-c', `CREATE DATABASE ${name}`], { stdio: 'ignore' });
    databases.set(dataDir, url.slice(0, url.lastIndexOf('/') + 1) + name);
  }
  return ['--store', databases.get(dataDir)];
}

/** For tests of what only the embedded LMDB store does (PROTOCOL.md, "Jobs in PostgreSQL"). */
export const lmdbOnly = STORE === 'postgres' ? 'a property of the embedded LMDB store' : false;

/**
 * @typedef {object} Server
 * @property {number} port
 * @property {string} dataDir
 * @property {import('node:child_process').ChildProcess} proc
 * @property {() => Promise<void>} stop SIGTERM, SIGKILL after 5 s; keeps the data dir
 * @property {() => Promise<void>} kill SIGKILL
 * @property {() => Promise<void>} cleanup stop, then remove the data dir
 * @property {() => void} freeze SIGSTOP: the process stops answering, its sockets stay open
 * @property {() => void} thaw SIGCONT
 * @property {Promise<{code: number|null, signal: string|null}>} exited
 * @property {() => string} log what it wrote on stderr
 */

/**
 * Starts docketd and resolves once it logged `Server is ready`.
 * @param {{port?: number, dataDir?: string, args?: string[]}} [opts]
 * @returns {Promise<Server>}
 */
export function startServer(opts = {}) {
  if (!existsSync(DOCKETD)) throw new Error(`docketd not found at ${DOCKETD} (set DOCKETD)`);
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), 'docket-node-'));
  const args = ['--port', String(opts.port ?? 0), '--data-dir', dataDir, ...storeArgs(dataDir, opts.args ?? []), ...(opts.args ?? [])];
  // docketd reads DOCKET_USER/DOCKET_PASS/DOCKET_TOKEN too: credentials exported for the clients
  // must not make every test server require authentication (tests that want it pass --auth/--user).
  const env = { ...process.env };
  for (const name of ['DOCKET_USER', 'DOCKET_PASS', 'DOCKET_TOKEN']) delete env[name];
  const proc = spawn(DOCKETD, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  let exited = false;
  let stopping = false;
  const exit = new Promise((resolve) => proc.once('exit', (code, signal) => {
    exited = true;
    resolve({ code, signal });
  }));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`docketd did not get ready in 10 s:\n${stderr}`));
    }, 10_000);
    let ready = false;
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => {
      stderr += d;
      if (!ready && stderr.includes('Server is ready')) {
        ready = true;
        clearTimeout(timer);
        const m = /Listening for client connections on 127\.0\.0\.1:(\d+)/.exec(stderr);
        if (!m) return reject(new Error(`no port in docketd log:\n${stderr}`));
        const stop = async (sig = 'SIGTERM') => {
          stopping = true;
          if (exited) return;
          proc.kill('SIGCONT'); // a frozen process would not act on SIGTERM
          proc.kill(sig);
          const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
          await exit;
          clearTimeout(t);
        };
        resolve({
          port: Number(m[1]),
          dataDir,
          proc,
          stop: () => stop('SIGTERM'),
          kill: () => stop('SIGKILL'),
          cleanup: async () => {
            await stop('SIGTERM');
            if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
          },
          freeze: () => {
            if (!exited) proc.kill('SIGSTOP');
          },
          thaw: () => {
            if (!exited) proc.kill('SIGCONT');
          },
          exited: exit,
          log: () => stderr,
        });
      }
    });
    proc.once('exit', (code, signal) => {
      if (ready && !stopping) process.stderr.write(`docketd (data dir ${dataDir}) exited unexpectedly (${code ?? signal}):\n${stderr.slice(-2000)}\n`);
      if (!ready) {
        clearTimeout(timer);
        if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true }); // made here, for nothing
        reject(new Error(`docketd exited with ${code} before it was ready:\n${stderr}`));
      }
    });
  });
}

/**
 * Resolves with the promise's value, or rejects after `ms`.
 * @template T @param {Promise<T>} promise @param {number} ms @param {string} [what]
 * @returns {Promise<T>}
 */
export function within(promise, ms, what = 'operation') {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]);
}

/** @param {number} ms */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `check` until it returns a truthy value, at most `ms`.
 * @template T @param {() => T | Promise<T>} check @param {number} ms @param {string} [what]
 * @returns {Promise<T>}
 */
export async function waitFor(check, ms, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${ms} ms`);
    await sleep(20);
  }
}

/**
 * The next message of a subscription, within `ms`.
 * @param {import('../src/index.js').Subscription} sub @param {number} [ms]
 */
export async function nextMsg(sub, ms = 2000) {
  const it = sub[Symbol.asyncIterator]();
  const r = await within(it.next(), ms, `a message on ${sub.subject}`);
  if (r.done) throw new Error(`subscription ${sub.subject} ended`);
  return r.value;
}

/**
 * A logger for Worker's `logger` option that keeps lines instead of printing them (tests stay
 * quiet); `lines` holds `level message` strings.
 * @param {{echo?: boolean}} [opts] echo: print them too (debugging)
 */
export function quietLogger(opts = {}) {
  /** @type {string[]} */
  const lines = [];
  const at = (/** @type {string} */ level) => (/** @type {string} */ msg) => {
    lines.push(`${level} ${msg}`);
    if (opts.echo) process.stderr.write(`${level} ${msg}\n`);
  };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/**
 * A TCP port on 127.0.0.1 that nothing listens on (it was free a moment ago).
 * @returns {Promise<number>}
 */
export async function freePort() {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });
}

/**
 * What the running server supports of the attempt-fencing change, found by trying it on a
 * throwaway queue over a raw socket (not through the client under test, so a client bug cannot
 * pass for an older server): `jobFields` (JOB carries lease= and delivery=) and `attemptFencing`
 * (TOUCH takes attempt=, and a stale one gets NOT_HELD).
 * @param {number} port
 * @returns {Promise<{jobFields: boolean, attemptFencing: boolean}>}
 */
export async function serverFeatures(port) {
  const net = await import('node:net');
  const socket = net.createConnection({ host: '127.0.0.1', port });
  socket.setEncoding('latin1');
  let buf = '';
  /** @type {(() => void)|null} */
  let wake = null;
  socket.on('data', (d) => {
    buf += d;
    wake?.();
  });
  socket.on('error', () => {});
  /** The next line from the server (PINGs answered and skipped), within 3 s. */
  const line = async () => {
    const deadline = Date.now() + 3000;
    for (;;) {
      const nl = buf.indexOf('\r\n');
      if (nl >= 0) {
        const l = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        if (l === 'PING') {
          socket.write('PONG\r\n');
          continue;
        }
        return l;
      }
      if (Date.now() > deadline) throw new Error('serverFeatures: no answer from the server');
      await new Promise((r) => {
        wake = () => r(undefined);
        setTimeout(r, 50);
      });
    }
  };
  try {
    const queue = `features-probe-${process.pid}`;
    await line(); // INFO
    socket.write(`CONNECT {"verbose":false,"pedantic":false}\r\nENQ ${queue} 5\r\nprobe\r\n`);
    const id = /^\+OK (\d+)/.exec(await line())?.[1];
    socket.write(`RESERVE ${queue} timeout=0\r\n`);
    const job = await line();
    await line(); // the payload
    const jobFields = /^JOB \d+ \S+ \d+ (.* )?lease=\d+ (.* )?delivery=\d+ \d+$/.test(job) || /^JOB \d+ \S+ \d+ (.* )?delivery=\d+ (.* )?lease=\d+ \d+$/.test(job);
    const attempt = Number(/^JOB \d+ \S+ (\d+)/.exec(job)?.[1] ?? 1);
    socket.write(`TOUCH ${id} attempt=${attempt + 1}\r\n`);
    const attemptFencing = (await line()).startsWith("-ERR 'NOT_HELD");
    socket.write(`DEL ${id}\r\n`);
    await line();
    return { jobFields, attemptFencing };
  } finally {
    socket.destroy();
  }
}
