// Test helpers: start a real docketd on a free port with a temporary data dir; bounded waits.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const DOCKETD = process.env.DOCKETD ?? path.resolve(here, '../../../.build/debug/docketd');

/**
 * @typedef {object} Server
 * @property {number} port
 * @property {string} dataDir
 * @property {import('node:child_process').ChildProcess} proc
 * @property {() => Promise<void>} stop SIGTERM, SIGKILL after 5 s; keeps the data dir
 * @property {() => Promise<void>} kill SIGKILL
 * @property {() => Promise<void>} cleanup stop, then remove the data dir
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
  const args = ['--port', String(opts.port ?? 0), '--data-dir', dataDir, ...(opts.args ?? [])];
  const proc = spawn(DOCKETD, args, { stdio: ['ignore', 'ignore', 'pipe'] });
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
          log: () => stderr,
        });
      }
    });
    proc.once('exit', (code, signal) => {
      if (ready && !stopping) process.stderr.write(`docketd (data dir ${dataDir}) exited unexpectedly (${code ?? signal}):\n${stderr.slice(-2000)}\n`);
      if (!ready) {
        clearTimeout(timer);
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
