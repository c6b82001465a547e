// The package as users get it: `npm pack` into a temporary directory, `npm install <tarball>` into
// a fresh project (offline: the package has no dependencies), then the README's quick start run
// from there against a live docketd, and (when a TypeScript compiler is installed) a TypeScript
// program type-checked against the installed declarations. Skips when npm is not installed.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { VERSION } from '../src/index.js';
import { startServer } from '../testkit/helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const packageDir = path.resolve(here, '..');
const pkg = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8'));

/** @param {string} cmd @param {string[]} args */
function version(cmd, args = ['--version']) {
  try {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
    return r.status === 0 ? r.stdout.trim() : null;
  } catch {
    return null;
  }
}
const npmVersion = version('npm');
const noNpm = npmVersion ? false : 'npm is not installed (the pack-and-install test needs it)';
const tscVersion = version('tsc');

/** @type {string} */
let work;
/** @type {string} the project the tarball is installed into */
let project;
/** @type {{name: string, files: {path: string}[]}|null} */
let packed = null;

/** npm with a private cache, offline, quiet. @param {string[]} args @param {string} cwd */
function npm(args, cwd) {
  const r = spawnSync('npm', [...args, '--offline', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, npm_config_cache: path.join(work, 'npm-cache'), npm_config_update_notifier: 'false' },
  });
  assert.equal(r.status, 0, `npm ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

before(() => {
  if (noNpm) return;
  work = mkdtempSync(path.join(tmpdir(), 'docket-pack-'));
  const out = npm(['pack', '--json', '--pack-destination', work], packageDir);
  packed = JSON.parse(out)[0];
  project = path.join(work, 'app');
  mkdirSync(project);
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'docket-quickstart', version: '1.0.0', private: true, type: 'module' }, null, 2));
  npm(['install', path.join(work, /** @type {any} */ (packed).filename)], project);
});
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test('package.json: the name, version, entry points and types', () => {
  assert.equal(pkg.name, 'docketd-client');
  assert.equal(pkg.version, VERSION, 'VERSION (sent in CONNECT) is the package version');
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.types, './src/index.d.ts');
  assert.deepEqual(pkg.exports['.'], { types: './src/index.d.ts', default: './src/index.js' });
  assert.equal(pkg.exports['./protocol'].types, './src/protocol.d.ts');
  assert.equal(pkg.dependencies, undefined, 'no dependencies');
  assert.match(pkg.engines.node, /^>=\d+/);
  for (const f of ['src/index.js', 'src/index.d.ts', 'src/protocol.d.ts', 'src/errors.d.ts']) assert.ok(existsSync(path.join(packageDir, f)), f);
});

test('every runtime export has a declaration in index.d.ts / protocol.d.ts', async () => {
  const declared = (/** @type {string} */ file) => {
    const text = readFileSync(path.join(packageDir, 'src', file), 'utf8');
    const names = new Set();
    for (const m of text.matchAll(/export (?:declare )?(?:abstract )?(?:class|function|const|interface|type) ([A-Za-z_$][\w$]*)/g)) names.add(m[1]);
    for (const m of text.matchAll(/export (?:type )?\{([^}]*)\}/g)) for (const n of m[1].split(',')) if (n.trim()) names.add(n.trim().split(/\s+as\s+/).pop());
    return names;
  };
  const index = declared('index.d.ts');
  const missing = Object.keys(await import('../src/index.js')).filter((n) => !index.has(n));
  assert.deepEqual(missing, [], 'exports of src/index.js without a declaration');
  const protocol = declared('protocol.d.ts');
  const missingP = Object.keys(await import('../src/protocol.js')).filter((n) => !protocol.has(n));
  assert.deepEqual(missingP, [], 'exports of src/protocol.js without a declaration');
});

test('npm pack ships the sources, declarations and README, and nothing else', { skip: noNpm }, () => {
  const files = /** @type {any} */ (packed).files.map((/** @type {{path: string}} */ f) => f.path).sort();
  for (const f of ['package.json', 'README.md', 'src/index.js', 'src/index.d.ts', 'src/client.js', 'src/protocol.js', 'src/protocol.d.ts', 'src/errors.d.ts', 'src/worker.js']) {
    assert.ok(files.includes(f), `${f} is in the tarball: ${files.join(', ')}`);
  }
  assert.deepEqual(files.filter((/** @type {string} */ f) => !/^(package\.json|README\.md|src\/[\w.-]+\.(js|d\.ts))$/.test(f)), []);
  assert.equal(/** @type {any} */ (packed).name, 'docketd-client');
});

/** The first ```js block of the README's "Quick start" section. */
function quickStart() {
  const readme = readFileSync(path.join(packageDir, 'README.md'), 'utf8');
  const section = readme.split(/^## /m).find((s) => s.startsWith('Quick start'));
  assert.ok(section, 'README has a "Quick start" section');
  const m = /```js\n([\s\S]*?)```/.exec(section);
  assert.ok(m, 'the quick start has a js block');
  return m[1];
}

/**
 * Runs a file with node in the project, within `ms`.
 * @param {string} file @param {number} ms
 * @returns {Promise<{code: number|null, stdout: string, stderr: string}>}
 */
function runNode(file, ms) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('the README quick start runs from a fresh project that installed the tarball', { timeout: 9000, skip: noNpm }, async () => {
  const code = quickStart();
  assert.match(code, /from 'docketd-client'/, 'the quick start imports the package by its name');
  assert.ok(code.includes('127.0.0.1:4222'), 'the quick start talks to 127.0.0.1:4222');
  const server = await startServer();
  try {
    writeFileSync(path.join(project, 'quickstart.mjs'), code.replaceAll('127.0.0.1:4222', `127.0.0.1:${server.port}`));
    const r = await runNode('quickstart.mjs', 8000);
    assert.equal(r.code, 0, `quick start exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /job \d+: completed \{"sent":"ada@example\.com"\}/, r.stdout);
    assert.match(r.stdout, /docket worker: job \d+ queue=emails attempt=1 delivery=\d+ outcome=completed duration_ms=\d+/, 'the worker logs each job at info (console)');
    // The installed package resolves by name, with its subpath exports.
    writeFileSync(
      path.join(project, 'resolve.mjs'),
      `import { createRequire } from 'node:module';
import { VERSION } from 'docketd-client';
import { encodeWait } from 'docketd-client/protocol';
const pkg = createRequire(import.meta.url)('docketd-client/package.json');
console.log(VERSION, pkg.version, encodeWait(1).toString().trim());\n`,
    );
    const r2 = await runNode('resolve.mjs', 5000);
    assert.equal(r2.stdout.trim(), `${VERSION} ${VERSION} WAIT 1`, r2.stderr);
  } finally {
    await server.cleanup();
  }
});

// Only what the declarations use, for machines without @types/node (a real one wins when present).
const NODE_TYPES_SHIM = `declare module 'node:events' {
  export class EventEmitter {
    on(event: string | symbol, listener: (...args: any[]) => void): this;
    once(event: string | symbol, listener: (...args: any[]) => void): this;
    off(event: string | symbol, listener: (...args: any[]) => void): this;
    emit(event: string | symbol, ...args: any[]): boolean;
    listenerCount(event: string | symbol): number;
  }
}
declare module 'node:tls' {
  export interface ConnectionOptions {
    host?: string; port?: number; path?: string; socket?: unknown;
    ca?: string | Buffer | Array<string | Buffer>; cert?: string | Buffer | Array<string | Buffer>;
    key?: string | Buffer | Array<string | Buffer>; passphrase?: string; pfx?: unknown;
    rejectUnauthorized?: boolean; servername?: string; minVersion?: string;
  }
}
interface Buffer extends Uint8Array { toString(encoding?: string): string; }
declare var Buffer: { from(data: string | ArrayLike<number>, encoding?: string): Buffer; alloc(size: number): Buffer };
interface AbortSignal { readonly aborted: boolean; readonly reason: unknown; }
declare var console: { log(...data: any[]): void; info(...data: any[]): void; warn(...data: any[]): void; error(...data: any[]): void };
`;

// A program that uses the API as the README shows it, and misuses it where the types must object.
const USAGE_TS = `import {
  connect, Client, Worker, DocketError, NotHeld, StoreFull, Throttle, NonRetryableError, TlsError, PermissionError,
  NotDelayed, Unavailable,
  type JobEvent, type QueueInfo, type JobOutcome, type ServerStats, type JobContext, type JobId, type JobPage,
  type JobInfo, type ScheduleInfo, type ParentInfo,
} from 'docketd-client';
import { encodeWait, Parser, type Frame } from 'docketd-client/protocol';

async function main(): Promise<void> {
  const client: Client = await connect({ url: 'tls://127.0.0.1:4222', tls: { caFile: 'ca.pem', certFile: 'c.pem', keyFile: 'c.key' } });
  const { id, duplicate }: { id: JobId; duplicate: boolean } = await client.enqueue('emails', { to: 'a' }, { attempts: 5, backoff: { type: 'exp', base: '1s', cap: '1h' }, key: 'k', group: 'g' });
  const outcome: JobOutcome = await client.wait(id, { timeout: '10s' });
  if (!outcome.pending && outcome.state === 'completed') console.log(outcome.result?.toString(), duplicate);
  const q: QueueInfo = await client.queue('emails');
  const blocked: 'paused' | 'concurrency' | 'throttle' | 'rate' | null = q.blocked_by;
  const stats: ServerStats = await client.stats();
  console.log(blocked, stats.route_refusals, (await client.inspect(id)).state);
  await client.setQueue('emails', { rate: '100/1s', groupRate: { limit: 5, per: 250 }, keepDead: null });
  const routeId: JobId = await client.route('orders.*', 'billing', { attempts: 2, ttl: '1h' });
  await client.unroute(routeId);
  await client.enqueue('emails', 'x', { ttl: 30_000 });
  await client.enqueue('emails', 'x', { expires: new Date(Date.now() + 60_000) });
  const page: JobPage = await client.list('emails', { state: 'dead', limit: 50 });
  const more = page.next === null ? null : await client.list('emails', { state: 'dead', after: page.next });
  for await (const job of client.listAll('emails', { state: 'delayed', pageSize: 100 })) {
    const j: JobInfo = job;
    console.log(j.id, j.expires_at, more?.jobs.length);
  }
  const purged: number = await client.purge('emails', { state: 'completed', older: '7d' });
  const flow: JobId[] = await client.batch([
    { queue: 'resize', payload: { image: 1 } },
    { queue: 'resize', payload: { image: 2 }, priority: 1 },
    { queue: 'report', after: ['#1', '#2'], onParentDead: 'run' },
  ]);
  const child = await client.enqueue('report', 'x', { after: [flow[0], '12345678901234567890'], key: 'r', keyTtl: '1d', replace: true });
  if (child.replaced) console.log(child.id);
  for (const p of await client.parents(flow[2])) {
    if (p.state === 'deleted') console.log(p.id);
    else console.log(p.queue, p.result, p.error);
  }
  const blockedJobs: JobPage = await client.list('report', { state: 'blocked' });
  console.log(blockedJobs.jobs[0]?.parents, blockedJobs.jobs[0]?.on_parent_dead, (await client.queue('report')).jobs.blocked);
  await client.purge('report', { state: 'blocked' });
  try { await client.promote(id); } catch (err) { if (err instanceof NotDelayed || err instanceof Unavailable) console.log(err.code, purged); }
  await client.schedule('nightly', 'reports', { kind: 'daily' }, { cron: '0 3 * * *', tz: 'Europe/Berlin', catchup: 'none', attempts: 2 });
  await client.schedule('pulse', 'beat', '', { every: '1m', ttl: 30_000 });
  const schedules: ScheduleInfo[] = await client.schedules();
  console.log(schedules[0]?.next[0], schedules[0]?.every_ms);
  await client.pauseSchedule('pulse');
  await client.resumeSchedule('pulse');
  await client.unschedule('pulse');
  for await (const ev of client.events('emails', { events: ['completed', 'dead'] })) {
    const e: JobEvent = ev;
    if (e.event === 'completed') console.log(e.run_ms, e.result_bytes);
    else if (e.event === 'failed') console.log(e.next, e.error);
    else if (e.event === 'scheduled') console.log(e.schedule, e.tick);
    else if (e.event === 'blocked') console.log(e.parents.length);
    break;
  }
  const sub = client.subscribe('orders.>', { queue: 'billing' });
  for await (const msg of sub) console.log(msg.subject, msg.headers?.get('X-Id'), msg.json<{ n: number }>().n);
  const ids: number[] = await client.publishRouted('orders.eu', { n: 1 }, { timeout: 2000 });
  const reply = await client.request('math.double', '21', { timeout: 1000, headers: { 'X-Id': '1' } });
  console.log(reply.string());
  const fail = await client.fail(id, { throttle: '30s', scope: 'group', attempt: 1 });
  if (fail.outcome === 'throttled') console.log(fail.delayMs);
  try { await client.ack(id); } catch (err) {
    if (err instanceof DocketError && (err.code === 'NOT_HELD' || err.code === 'STORE_FULL' || err.code === 'LIMIT' || err.code === 'FORBIDDEN')) console.log(err.serverMessage);
    if (err instanceof TlsError || err instanceof PermissionError) console.log(err.code);
    if (err instanceof NotHeld || err instanceof StoreFull) console.log(err.serverMessage, ids);
  }
  client.on('error', (err: Error) => console.error(err.message));
  const worker = new Worker({
    url: 'nats://127.0.0.1:4222', queues: ['emails'], concurrency: 4, logger: null,
    handler: async (job: JobContext) => {
      await job.progress(50, 'half');
      const parents: ParentInfo[] = await job.parents();
      if (job.attempt > 3) throw new NonRetryableError('no');
      if (job.signal.aborted) throw new Throttle(30, { scope: 'group' });
      return { sent: job.json<{ to: string }>().to, delivery: String(job.delivery), parents: parents.length };
    },
  });
  worker.on('failed', (job, err, how) => console.log(job.id, err, how.outcome));
  await worker.start();
  await worker.stop({ graceMs: 0 });
  const frames: Frame[] = [];
  new Parser((f) => frames.push(f)).push(encodeWait(1));
  await client.close();

  // @ts-expect-error: an unknown ENQ option
  await client.enqueue('q', 'x', { priorty: 1 });
  // @ts-expect-error: a queue setting that does not exist
  await client.setQueue('q', { speed: 1 });
  // @ts-expect-error: active jobs cannot be purged
  await client.purge('q', { state: 'active' });
  // @ts-expect-error: a schedule has cron or every, not both
  await client.schedule('s', 'q', '', { cron: '* * * * *', every: 60_000 });
  // @ts-expect-error: tz goes with cron only
  await client.schedule('s', 'q', '', { every: 60_000, tz: 'UTC' });
  // @ts-expect-error: each tick's job is keyed <name>@<tick>
  await client.schedule('s', 'q', '', { every: 60_000, key: 'k' });
  // @ts-expect-error: a route takes ttl, not expires
  await client.route('a.b', 'q', { expires: 1 });
  // @ts-expect-error: a routed job cannot wait for others
  await client.route('a.b', 'q', { after: [1] });
  // @ts-expect-error: onParentDead is fail or run
  await client.enqueue('q', 'x', { after: [1], onParentDead: 'maybe' });
  // @ts-expect-error: a batch job needs its queue
  await client.batch([{ payload: 'x' }]);
  // @ts-expect-error: wait() needs a job id
  await client.wait();
  // @ts-expect-error: a worker needs a handler
  new Worker({ queues: 'q' });
  // @ts-expect-error: the logger is console-like or null
  new Worker({ queues: 'q', handler: () => 1, logger: 'console' });
}
void main;
`;

test('a TypeScript program type-checks against the installed declarations', { timeout: 9000, skip: noNpm || (!tscVersion && 'no TypeScript compiler (tsc) is installed') }, () => {
  const hasNodeTypes = existsSync(path.join(project, 'node_modules/@types/node'));
  if (!hasNodeTypes) {
    const dir = path.join(project, 'node_modules/@types/node');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: '@types/node', version: '0.0.0', types: 'index.d.ts' }));
    writeFileSync(path.join(dir, 'index.d.ts'), NODE_TYPES_SHIM);
  }
  writeFileSync(path.join(project, 'usage.ts'), USAGE_TS);
  writeFileSync(
    path.join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, module: 'node16', moduleResolution: 'node16', target: 'es2022', lib: ['es2022', 'esnext.asynciterable'], types: ['node'], skipLibCheck: false },
      files: ['usage.ts'],
    }),
  );
  const r = spawnSync('tsc', ['-p', project], { cwd: project, encoding: 'utf8', timeout: 8000 });
  assert.equal(r.status, 0, `tsc ${tscVersion}:\n${r.stdout}${r.stderr}`);
});
