// A worker in its own process, for the signal tests: node worker-process.js <port> <queue> <handler ms> [graceMs] [mode]
// mode "sleep" (default): the handler sleeps <handler ms>, ignoring job.signal, and returns 'ok';
// mode "late-progress": jobs whose payload is "late" call progress() unawaited after the handler
//   returned; "expired" ones outlive their lease, then call progress() unawaited.
// It prints `started <id>`, `completed <id>`, `stopped`, and the worker's log as `log <level> <msg>`.
import { Worker } from '../src/index.js';

const [port, queue, ms, graceMs = '5000', mode = 'sleep'] = process.argv.slice(2);
const out = (/** @type {string} */ line) => process.stdout.write(`${line}\n`);
const logger = {
  debug: () => {},
  info: (/** @type {string} */ m) => out(`log info ${m}`),
  warn: (/** @type {string} */ m) => out(`log warn ${m}`),
  error: (/** @type {string} */ m) => out(`log error ${m}`),
};
const sleep = (/** @type {number} */ n) => new Promise((r) => setTimeout(r, n));
const worker = new Worker({
  port: Number(port),
  queues: queue,
  reserveTimeoutMs: 200,
  graceMs: Number(graceMs),
  heartbeatMs: mode === 'late-progress' ? null : undefined,
  logger,
  handler: async (job) => {
    out(`started ${job.id}`);
    if (mode === 'late-progress') {
      if (job.text() === 'late') {
        setTimeout(() => job.progress(50, 'too late'), 100);
        return 'ok';
      }
      await sleep(Number(ms)); // longer than the job's lease
      job.progress(60, 'lease gone');
      await sleep(200);
      return 'ok';
    }
    await sleep(Number(ms));
    return 'ok';
  },
});
worker.on('completed', (job) => out(`completed ${job.id}`));
worker.on('stopped', () => out('stopped'));
await worker.start();
out('running');
// Nothing else keeps the process alive: once the worker has stopped, it exits with code 0.
