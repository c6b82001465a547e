// A worker in its own process, for the SIGTERM test: node worker-process.js <port> <queue> <handler ms>
import { Worker } from '../src/index.js';

const [port, queue, ms] = process.argv.slice(2);
const worker = new Worker({
  port: Number(port),
  queues: queue,
  reserveTimeoutMs: 200,
  graceMs: 5000,
  handler: async (job) => {
    process.stdout.write(`started ${job.id}\n`);
    await new Promise((r) => setTimeout(r, Number(ms)));
    return 'ok';
  },
});
worker.on('completed', (job) => process.stdout.write(`completed ${job.id}\n`));
worker.on('stopped', () => process.stdout.write('stopped\n'));
await worker.start();
// Nothing else keeps the process alive: once the worker has stopped, it exits with code 0.
