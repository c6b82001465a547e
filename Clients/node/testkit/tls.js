// TLS test helpers: certificates made with the openssl command line in a temporary directory,
// and a real nats-server (TLS, mutual TLS, permissions) on a free port of 127.0.0.1.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * The nats-server binary: NATS_SERVER_BIN, else the first on PATH, else /usr/sbin/nats-server.
 * (Not NATS_SERVER: the interop suite reads that name as "run against nats-server".)
 */
export const NATS_SERVER = process.env.NATS_SERVER_BIN || onPath('nats-server') || '/usr/sbin/nats-server';

/** @param {string} name @returns {string|null} */
function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return null;
}

/** @param {string} cmd @returns {boolean} */
function runs(cmd, args) {
  try {
    return spawnSync(cmd, args, { stdio: 'ignore', timeout: 5000 }).status === 0;
  } catch {
    return false;
  }
}

/** Why TLS tests cannot run here, or false when they can. @returns {string|false} */
export function tlsSkipReason() {
  if (!runs('openssl', ['version'])) return 'the openssl command line is not installed';
  return false;
}

/** Why nats-server tests cannot run here, or false when they can. @returns {string|false} */
export function natsSkipReason() {
  const noTls = tlsSkipReason();
  if (noTls) return noTls;
  if (!existsSync(NATS_SERVER) || !runs(NATS_SERVER, ['--version'])) return `nats-server not found at ${NATS_SERVER} (set NATS_SERVER_BIN)`;
  return false;
}

/**
 * @typedef {object} Certs paths of PEM files
 * @property {string} dir
 * @property {string} ca the CA that signed the server and client certificates
 * @property {string} serverCert for 127.0.0.1 and localhost
 * @property {string} serverKey
 * @property {string} clientCert a client certificate (extendedKeyUsage clientAuth)
 * @property {string} clientKey
 * @property {string} otherCa a CA that signed nothing here (a server checked against it fails)
 * @property {() => void} cleanup
 */

/**
 * A CA, a server certificate for 127.0.0.1/localhost, a client certificate and an unrelated CA,
 * made with the openssl command line (EC P-256, valid two days).
 * @returns {Certs}
 */
export function makeCerts() {
  const dir = mkdtempSync(path.join(tmpdir(), 'docket-tls-'));
  const p = (/** @type {string} */ f) => path.join(dir, f);
  const ssl = (/** @type {string[]} */ args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=docket-test-ca']);
  ssl(['req', '-x509', ...ec, '-keyout', 'other-ca.key', '-out', 'other-ca.pem', '-days', '2', '-subj', '/CN=docket-other-ca']);
  writeFileSync(p('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  writeFileSync(p('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, cn] of [['server', 'localhost'], ['client', 'docket-test-client']]) {
    ssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    ssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`]);
  }
  return {
    dir,
    ca: p('ca.pem'),
    serverCert: p('server.pem'),
    serverKey: p('server.key'),
    clientCert: p('client.pem'),
    clientKey: p('client.key'),
    otherCa: p('other-ca.pem'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Starts nats-server on a free port of 127.0.0.1 and resolves once it is ready.
 * @param {string[]} args its flags (TLS, a config file …; `-p <port>` for a given port)
 * @returns {Promise<{port: number, stop: () => Promise<void>, log: () => string}>}
 */
export function startNatsServer(args) {
  const port = args.includes('-p') ? [] : ['-p', '-1']; // -1: a free port
  const proc = spawn(NATS_SERVER, ['-a', '127.0.0.1', ...port, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`nats-server did not get ready in 5 s:\n${out}`));
    }, 5000);
    const onData = (/** @type {Buffer} */ d) => {
      out += d.toString('utf8');
      const m = /Listening for client connections on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m && out.includes('Server is ready')) {
        clearTimeout(timer);
        proc.stderr.off('data', onData);
        proc.stdout.off('data', onData);
        proc.stderr.on('data', (more) => (out += more.toString('utf8')));
        resolve({
          port: Number(m[1]),
          log: () => out,
          stop: async () => {
            if (proc.exitCode !== null || proc.signalCode !== null) return;
            proc.kill('SIGTERM');
            const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
            await exited;
            clearTimeout(t);
          },
        });
      }
    };
    proc.stderr.on('data', onData);
    proc.stdout.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited with ${code} before it was ready:\n${out}`));
    });
  });
}
