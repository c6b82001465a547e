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
  /** Not started within this long after the ENQ, the job is not run: it becomes dead (`ttl=`; not with `expires`). */
  ttl?: Duration;
  /** The same by a time: a Date, or unix milliseconds (`expires=`; not with `ttl`). Already past: dead at once. */
  expires?: Date | number;
  /**
   * The job's parents (`after=`): it stays `blocked` until every one has completed. 1 to 100 job
   * ids, each once; inside `batch()` also `'#<n>'`, an earlier job of the same batch (`'#1'` the first).
   */
  after?: Parent[] | Parent;
  /** A parent dies (or is deleted) before completing: this job dies too (`'fail'`, the default) or counts it as done (`'run'`). */
  onParentDead?: 'fail' | 'run';
  /** With `key`: remember the key at least this long after the ENQ, even once the job is removed (`key_ttl=`). */
  keyTtl?: Duration;
  /** With `key`: a duplicate of a job still waiting or delayed replaces its payload and run time (debounce); the reply says `replaced`. */
  replace?: boolean;
}

/** A parent of a job (`after`): a job id, or inside a batch `'#<n>'`, the n-th job of it. */
export type Parent = JobId | bigint | `#${number}`;

/** One job of `batch()`: its queue, its payload (default empty) and the options of `enqueue()`. */
export interface BatchJob extends EnqueueOptions {
  queue: string;
  payload?: Payload;
}

/** The ENQ options a job made by a route or a schedule cannot take: it cannot wait for parents, nor fix a key. */
type OneJobOptions = 'key' | 'at' | 'expires' | 'after' | 'onParentDead' | 'keyTtl' | 'replace';

/** Options of `route()`: the ENQ options each routed job gets (not `key`, `at`, `expires`, `after`; `ttl` counts from each job's ENQ). */
export type RouteOptions = Omit<EnqueueOptions, OneJobOptions>;

/** A job state, as LIST and PURGE name it (`blocked`: waiting for its parents). */
export type JobStateName = 'waiting' | 'delayed' | 'blocked' | 'active' | 'completed' | 'dead';

/** Options of `list()` (LIST). */
export interface ListOptions {
  /** Default `waiting`. */
  state?: JobStateName;
  /** The `next` cursor of the page before, exactly as the server gave it (null: the first page). */
  after?: string | null;
  /** 1..1000 (server default 100). */
  limit?: number;
}

/** Options of `purge()` (PURGE). */
export interface PurgeOptions {
  /** Required; never `active` (a worker holds those). */
  state: Exclude<JobStateName, 'active'>;
  /** Only jobs that entered the state longer ago than this. */
  older?: Duration;
}

/** When a schedule fires: exactly one of `cron` and `every`. */
export type ScheduleTiming =
  | {
      /** Standard cron syntax (5 fields, or 6 with seconds first; `@hourly`, `@daily`, …), sent in double quotes. */
      cron: string;
      /** The IANA zone the expression is read in (default UTC). */
      tz?: string;
      every?: undefined;
    }
  | {
      /** A tick every this long from the creation (at least 1 s). */
      every: Duration;
      cron?: undefined;
      tz?: undefined;
    };

/**
 * Options of `schedule()` (SCHEDULE): the timing, what missed ticks make, and the ENQ options each
 * tick's job gets (not `key`, `at`, `delay` or `expires`: each tick's job is keyed `<name>@<tick>`).
 */
export type ScheduleOptions = ScheduleTiming & {
  /** Ticks missed while docketd was down: none, one job for them (the server's default), or one each. */
  catchup?: 'none' | 'one' | 'all';
} & Omit<EnqueueOptions, OneJobOptions | 'delay'>;

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
  state: 'completed' | 'dead' | 'waiting' | 'delayed' | 'blocked' | 'active' | (string & {});
  /** True when the timeout passed before the job finished. */
  pending: boolean;
  /** A completed job's result (empty when its ACK had none); null otherwise. */
  result: Buffer | null;
  /** A dead job's last error; null otherwise. */
  error: string | null;
}

/** One page of LIST (the jobs are documents as INSPECT's; the main entry point types them as JobInfo). */
export interface JobPage<J = Record<string, any>> {
  queue: string;
  state: JobStateName;
  /** In the state's order. */
  jobs: J[];
  /** The cursor to pass as `after` for the next page; null on the last. */
  next: string | null;
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
  /**
   * `maxPayload`: the largest payload of any frame (default 256 MiB); `maxMessage`: the largest
   * MSG/HMSG (default maxPayload). A larger one is a ProtocolError on its control line.
   */
  constructor(onFrame: (frame: Frame) => void, limits?: { maxControlLine?: number; maxPayload?: number; maxMessage?: number });
  maxControlLine: number;
  maxPayload: number;
  maxMessage: number;
  /** True when no partial operation is buffered. */
  readonly idle: boolean;
  /** Throws a ProtocolError on bytes that break the protocol (the parser is then unusable). */
  push(chunk: Buffer): void;
  parseLine(line: string): Frame | null;
}

export declare function toBytes(data: Payload): Buffer;
export declare function formatDuration(d: Duration, what?: string): string;
/** A duration that must be longer than zero (a lease, a throttle). */
export declare function positiveDuration(d: Duration, what: string): string;
export declare function plainDecimal(n: number): string;
export declare function durationMs(d: Duration): number;
export declare function checkQueue(q: unknown): string;
export declare function formatJobId(id: number | string | bigint): string;
export declare function isValidPublishSubject(s: string): boolean;
export declare function isValidSubscribeSubject(s: string): boolean;
/** True when the string holds a lone UTF-16 surrogate (no UTF-8 form); such keys, subjects and tokens throw InvalidArgument. */
export declare function hasLoneSurrogate(s: string): boolean;
/** Throws InvalidArgument for an option name not in `known` (or options that are not an object); returns the options ({} for none). */
export declare function checkOptionNames(opts: unknown, known: readonly string[], what: string): Record<string, any>;
/** The option names of enqueue() and of a batch job. */
export declare const ENQUEUE_OPTIONS: readonly string[];
export declare function formatRate(r: Rate, what?: string): string;
export declare function parseDelivery(s: string): number | string;
export declare function parseJobError(text: string): { code: string; message: string } | null;
export declare function takesJobErrors(call: string): boolean;
/** True for an -ERR text NATS defines (`Invalid Subject`, `Stale Connection`, …): it answers no command. */
export declare function isNatsError(text: string): boolean;
export declare function route(f: Frame, waiting: string | undefined, decoder?: (f: Frame) => any): Routed;
/** True when a message body is a route's `{"jobs":[...]}` reply. */
export declare function isRoutedReply(data: Buffer): boolean;
/** The job ids of a route's reply; a refusal throws its DocketError (StoreFull). */
export declare function parseRoutedReply(data: Buffer): number[];
/** JSON.parse, but an integer above Number.MAX_SAFE_INTEGER (a 19-digit job id) is its exact decimal string. */
export declare function parseJson(text: string): any;

export declare function encodeHeaders(headers: MsgHeaders): Buffer;
export declare function decodeHeaders(block: Buffer): { status: number | null; description: string | null; headers: MsgHeaders };
export declare function encodeConnect(options: Record<string, unknown>): Buffer;
export declare const PING: Buffer;
export declare const CANCEL: Buffer;
export declare const PONG: Buffer;
export declare function encodePublish(subject: string, data: Payload, opts?: { reply?: string; headers?: HeadersInit }): Buffer;
export declare function encodeSub(subject: string, sid: string | number, opts?: { queue?: string }): Buffer;
export declare function encodeUnsub(sid: string | number, max?: number): Buffer;
/** A command line with an optional payload (` <#bytes>\r\n<payload>\r\n`). */
export declare function commandBytes(line: string, payload?: Buffer | null): Buffer;
export declare function encodeEnqueue(queue: string, payload: Payload, opts?: EnqueueOptions): Buffer;
/** The most parents one job may have (`after`). */
export declare const MAX_PARENTS: number;
/** `BATCH <n>` and the n ENQs; every job checked first (InvalidArgument naming the bad one). */
export declare function encodeBatch(jobs: BatchJob[], limits?: { maxPayload?: number | null; maxControlLine?: number | null }): Buffer;
/** `PARENTS <id>`. */
export declare function encodeParents(id: number | string | bigint): Buffer;
/** `CHILDREN <id> [after=<id>] [limit=<n>]`. */
export declare function encodeChildren(id: number | string | bigint, opts?: { after?: number | string | bigint | null; limit?: number | null }): Buffer;
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
export declare function encodeQueues(opts?: { after?: string | null; limit?: number | null }): Buffer;
export declare function encodeStats(): Buffer;
export declare function encodePause(queue: string): Buffer;
export declare function encodeResume(queue: string): Buffer;
export declare function encodeQueueSet(queue: string, settings: QueueSettings): Buffer;
export declare function encodeRoute(pattern: string, queue: string, opts?: RouteOptions): Buffer;
export declare function encodeRoutes(opts?: { after?: number | string | null; limit?: number | null }): Buffer;
export declare function encodeUnroute(id: number | string): Buffer;
/** The job states: waiting, delayed, blocked, active, completed, dead. */
export declare const JOB_STATES: readonly JobStateName[];
export declare function encodeList(queue: string, opts?: { state?: JobStateName | null; after?: string | null; limit?: number | null }): Buffer;
export declare function encodePurge(queue: string, opts: { state: Exclude<JobStateName, 'active'>; older?: Duration | null }): Buffer;
export declare function encodePromote(id: number | string): Buffer;
export declare function checkScheduleName(name: unknown): string;
export declare function encodeSchedule(name: string, queue: string, payload: Payload, opts: ScheduleOptions): Buffer;
export declare function encodeUnschedule(name: string): Buffer;
export declare function encodeSchedules(opts?: { after?: string | null; limit?: number | null }): Buffer;
export declare function encodePauseSchedule(name: string): Buffer;
export declare function encodeResumeSchedule(name: string): Buffer;

/** Reply decoders by call name; a new verb adds one. */
export declare const replyDecoders: Record<string, (f: Frame) => any> & {
  ping(f: Frame): null;
  enqueue(f: Frame): { id: JobId; duplicate: boolean; replaced: boolean };
  batch(f: Frame): JobId[];
  parents(f: Frame): Record<string, any>[];
  reserve(f: Frame): Job | null;
  fail(f: Frame): FailOutcome;
  wait(f: Frame): JobOutcome;
  route(f: Frame): number;
  retry_queue(f: Frame): number;
  list(f: Frame): JobPage;
  purge(f: Frame): number;
  schedules(f: Frame): Record<string, any>[];
  help(f: Frame): string;
};
