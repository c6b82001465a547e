// Type declarations of docketd-client/protocol: the wire protocol without sockets (a streaming
// parser, encoders, reply decoders). Most programs need only the main entry point.

/// <reference types="node" />

import type { DocketError } from './errors.js';

/** A duration: milliseconds, or a string the server reads (`'250ms'`, `'30s'`, `'5m'`, `'2h'`, `'1d'`; a bare number is seconds). */
export type Duration = number | string;

/** A payload: bytes as they are, a string as UTF-8, anything else as JSON. */
export type Payload = Buffer | Uint8Array | ArrayBuffer | string | null | undefined | object | number | boolean;

/** Message headers as given to publish/request/respond. */
export type HeadersInit =
  | MsgHeaders
  | Array<[string, string]>
  | Map<string, string | string[]>
  | Record<string, string | string[]>;

/** NATS message headers: `[name, value]` pairs in order; names keep their case and may repeat. */
export declare class MsgHeaders implements Iterable<[string, string]> {
  constructor();
  list: Array<[string, string]>;
  static from(init: HeadersInit | null | undefined): MsgHeaders;
  append(name: string, value: string): void;
  /** Replaces every value of `name`. */
  set(name: string, value: string): void;
  delete(name: string): void;
  /** The first value; the name is matched exactly, else without regard to case. */
  get(name: string): string | undefined;
  getAll(name: string): string[];
  has(name: string): boolean;
  /** Number of header lines. */
  readonly size: number;
  [Symbol.iterator](): IterableIterator<[string, string]>;
  toJSON(): Array<[string, string]>;
}

/** A backoff: `'fixed:5s'`, `'exp:1s:1h'`, or the same as an object. */
export type Backoff =
  | string
  | { type: 'fixed'; delay: Duration }
  | { type: 'exp'; base: Duration; cap?: Duration };

/** Options of `enqueue()` (ENQ). */
export interface EnqueueOptions {
  /** Run no sooner than this from now (not with `at`). */
  delay?: Duration;
  /** Run no sooner than this time: a Date, or unix seconds (not with `delay`). */
  at?: Date | number;
  /** Lower runs first; -1000000..1000000 (`pri=`). */
  priority?: number;
  /** Most times the job may run, 1..1000 (default 3). */
  attempts?: number;
  backoff?: Backoff;
  /** 0..1: spread each backoff wait randomly by up to this fraction, downwards. */
  jitter?: number;
  /** How long a worker may hold the job without ACK, FAIL, PROGRESS or TOUCH (default 30 s). */
  lease?: Duration;
  /** Idempotency key, 1..200 bytes without blanks: enqueuing it again returns the same job. */
  key?: string;
  /** The group (tenant, customer, API key) whose `group_rate` applies, 1..200 bytes. */
  group?: string;
}

/** Options of `route()`: the ENQ options each routed job gets (not `key` or `at`). */
export type RouteOptions = Omit<EnqueueOptions, 'key' | 'at'>;

/** A rate: `'100/1s'`, `'100/s'`, `'5/250ms'`, or `{limit, per}`. */
export type Rate = string | { limit: number; per: Duration };

/** Settings of `setQueue()`. `null` returns a setting to its default (`none`); left out: unchanged. */
export interface QueueSettings {
  /** At most n jobs started in any window of that length, across all workers (`rate=`). */
  rate?: Rate | null;
  /** The same, for each group of the queue separately (`group_rate=`). */
  groupRate?: Rate | null;
  /** At most n jobs of the queue active at once. */
  concurrency?: number | null;
  /** Defaults for jobs enqueued from now on. */
  attempts?: number | null;
  backoff?: Backoff | null;
  jitter?: number | null;
  lease?: Duration | null;
  /** Completed jobs kept (`keep_completed=`). */
  keepCompleted?: number | null;
  /** Dead jobs kept (`keep_dead=`). */
  keepDead?: number | null;
}

/** Options of `fail()` (FAIL). */
export interface FailOptions {
  /** Kept as the job's last error (an Error gives its message). */
  reason?: Payload | Error;
  /** A delay instead of the backoff, or `false` (or `'no'`) for `retry=no`: dead at once. Not with `throttle`. */
  retry?: Duration | false | 'no' | null;
  /** The attempt held (`job.attempt`): refused with NOT_HELD when the job has moved on. */
  attempt?: number | null;
  /** Back to waiting without using up an attempt; the queue (or the group) starts nothing for this long. */
  throttle?: Duration | null;
  /** What `throttle` holds: the whole queue (default) or the job's group. */
  scope?: 'queue' | 'group' | null;
}

/** What `fail()` resolves with. */
export type FailOutcome =
  | { outcome: 'retry'; delayMs: number }
  | { outcome: 'dead' }
  | { outcome: 'throttled'; delayMs: number };

/**
 * A job (or route) id as the server sent it: a number, or above Number.MAX_SAFE_INTEGER (2^53 - 1)
 * the exact decimal string (ids have up to 19 digits). Every method that takes an id takes either.
 */
export type JobId = number | string;

/** A reserved job (`JOB`). */
export interface Job {
  id: JobId;
  queue: string;
  /** Which run this is, from 1, as the server counts them (not unique after a crash: see `delivery`). */
  attempt: number;
  /** The job's lease (`lease=`), or null from a server that does not send it. */
  leaseMs: number | null;
  /** This hand-out's id (`delivery=`), unique for the data directory's life: a number, or a decimal string above 2^53. */
  delivery: number | string | null;
  payload: Buffer;
}

/** What `wait()` resolves with (`OUTCOME` or `PENDING`). */
export interface JobOutcome {
  id: JobId;
  /** `completed` or `dead` once finished; while `pending`, the job's state then. */
  state: 'completed' | 'dead' | 'waiting' | 'delayed' | 'active' | (string & {});
  /** True when the timeout passed before the job finished. */
  pending: boolean;
  /** A completed job's result (empty when its ACK had none); null otherwise. */
  result: Buffer | null;
  /** A dead job's last error; null otherwise. */
  error: string | null;
}

/** A frame the server sent. */
export type Frame =
  | { op: 'INFO'; info: Record<string, any> }
  | { op: 'MSG'; subject: string; sid: string; reply: string | null; payload: Buffer }
  | { op: 'HMSG'; subject: string; sid: string; reply: string | null; payload: Buffer; headers: MsgHeaders; status: number | null; description: string | null }
  | { op: 'PING' }
  | { op: 'PONG' }
  | { op: 'NOJOB' }
  | { op: 'OK'; text: string }
  | { op: 'ERR'; text: string }
  | { op: 'JOB'; id: JobId; queue: string; attempt: number; leaseMs: number | null; delivery: number | string | null; payload: Buffer }
  | { op: 'JSON'; value: any; payload: Buffer }
  | { op: 'HELP'; text: string }
  | { op: 'OUTCOME'; id: JobId; state: 'completed' | 'dead'; payload: Buffer }
  | { op: 'PENDING'; id: JobId; state: string };

/** Where a frame goes, given the call of the oldest command waiting for a reply. */
export type Routed =
  | { to: 'message'; frame: Frame }
  | { to: 'ping' }
  | { to: 'info'; info: Record<string, any> }
  | { to: 'server_error'; text: string }
  | { to: 'reply'; value: any }
  | { to: 'reply'; error: DocketError };

/** A streaming parser of the server's bytes: `push` Buffers as they arrive; `onFrame` gets each frame. */
export declare class Parser {
  constructor(onFrame: (frame: Frame) => void, limits?: { maxControlLine?: number; maxPayload?: number });
  /** True when no partial operation is buffered. */
  readonly idle: boolean;
  /** Throws a ProtocolError on bytes that break the protocol (the parser is then unusable). */
  push(chunk: Buffer): void;
  parseLine(line: string): Frame | null;
}

export declare function toBytes(data: Payload): Buffer;
export declare function formatDuration(d: Duration, what?: string): string;
export declare function plainDecimal(n: number): string;
export declare function durationMs(d: Duration): number;
export declare function checkQueue(q: unknown): string;
export declare function formatJobId(id: number | string | bigint): string;
export declare function isValidPublishSubject(s: string): boolean;
export declare function isValidSubscribeSubject(s: string): boolean;
export declare function formatRate(r: Rate, what?: string): string;
export declare function parseDelivery(s: string): number | string;
export declare function parseJobError(text: string): { code: string; message: string } | null;
export declare function takesJobErrors(call: string): boolean;
export declare function route(f: Frame, waiting: string | undefined, decoder?: (f: Frame) => any): Routed;
/** True when a message body is a route's `{"jobs":[...]}` reply. */
export declare function isRoutedReply(data: Buffer): boolean;
/** The job ids of a route's reply; a refusal throws its DocketError (StoreFull). */
export declare function parseRoutedReply(data: Buffer): number[];

export declare function encodeHeaders(headers: MsgHeaders): Buffer;
export declare function decodeHeaders(block: Buffer): { status: number | null; description: string | null; headers: MsgHeaders };
export declare function encodeConnect(options: Record<string, unknown>): Buffer;
export declare const PING: Buffer;
export declare const PONG: Buffer;
export declare function encodePublish(subject: string, data: Payload, opts?: { reply?: string; headers?: HeadersInit }): Buffer;
export declare function encodeSub(subject: string, sid: string | number, opts?: { queue?: string }): Buffer;
export declare function encodeUnsub(sid: string | number, max?: number): Buffer;
/** A command line with an optional payload (` <#bytes>\r\n<payload>\r\n`). */
export declare function commandBytes(line: string, payload?: Buffer | null): Buffer;
export declare function encodeEnqueue(queue: string, payload: Payload, opts?: EnqueueOptions): Buffer;
export declare function encodeReserve(queues: string | string[], opts?: { timeout?: Duration | null }): Buffer;
export declare function encodeAck(id: number | string, result?: Payload, attempt?: number): Buffer;
export declare function encodeFail(id: number | string, opts?: FailOptions): Buffer;
export declare function encodeProgress(id: number | string, percent: number, note?: Payload, attempt?: number): Buffer;
export declare function encodeTouch(id: number | string, attempt?: number): Buffer;
export declare function encodeInspect(id: number | string): Buffer;
export declare function encodeWait(id: number | string, opts?: { timeout?: Duration | null }): Buffer;
export declare function encodeRetry(id: number | string): Buffer;
export declare function encodeRetryQueue(queue: string): Buffer;
export declare function encodeDelete(id: number | string): Buffer;
export declare function encodeHelp(): Buffer;
export declare function encodeDead(queue: string, opts?: { limit?: number }): Buffer;
export declare function encodeQueue(queue: string): Buffer;
export declare function encodeQueues(): Buffer;
export declare function encodeStats(): Buffer;
export declare function encodePause(queue: string): Buffer;
export declare function encodeResume(queue: string): Buffer;
export declare function encodeQueueSet(queue: string, settings: QueueSettings): Buffer;
export declare function encodeRoute(pattern: string, queue: string, opts?: RouteOptions): Buffer;
export declare function encodeRoutes(): Buffer;
export declare function encodeUnroute(id: number | string): Buffer;

/** Reply decoders by call name; a new verb adds one. */
export declare const replyDecoders: Record<string, (f: Frame) => any> & {
  ping(f: Frame): null;
  enqueue(f: Frame): { id: number; duplicate: boolean };
  reserve(f: Frame): Job | null;
  fail(f: Frame): FailOutcome;
  wait(f: Frame): JobOutcome;
  route(f: Frame): number;
  retry_queue(f: Frame): number;
  help(f: Frame): string;
};
