// Type declarations of docketd-client, the Node.js client of Docket (docketd): NATS-compatible
// publish/subscribe and durable jobs on one connection. The code is plain JavaScript (ES modules);
// these declarations describe its public API.

/// <reference types="node" />

import { EventEmitter } from 'node:events';
import type { ConnectionOptions as NodeTlsConnectionOptions } from 'node:tls';

import type {
  BatchJob,
  Duration,
  EnqueueOptions,
  FailOptions,
  FailOutcome,
  HeadersInit,
  Job,
  JobId,
  JobOutcome,
  JobPage as ProtocolJobPage,
  JobStateName,
  ListOptions,
  Payload,
  PurgeOptions,
  QueueSettings,
  RouteOptions,
  ScheduleOptions,
  Frame,
} from './protocol.js';

export type {
  Backoff,
  BatchJob,
  Duration,
  EnqueueOptions,
  FailOptions,
  FailOutcome,
  Frame,
  HeadersInit,
  Job,
  JobId,
  JobOutcome,
  JobStateName,
  ListOptions,
  Parent,
  Payload,
  PurgeOptions,
  QueueSettings,
  Rate,
  RouteOptions,
  ScheduleOptions,
  ScheduleTiming,
} from './protocol.js';
export { MsgHeaders, commandBytes, durationMs, formatDuration, formatRate, parseRoutedReply, replyDecoders } from './protocol.js';
export type { DocketErrorCode } from './errors.js';
export {
  AuthorizationError,
  BadId,
  BadOption,
  BadQueue,
  BufferFull,
  ConnectError,
  ConnectionClosed,
  ConnectionLost,
  DocketClientError,
  DocketError,
  Forbidden,
  InvalidArgument,
  LimitReached,
  NoResponders,
  NonRetryableError,
  NotDead,
  NotDelayed,
  NotFound,
  NotHeld,
  PermissionError,
  ProtocolError,
  RetryAfterError,
  ServerError,
  SlowConsumer,
  StoreFull,
  Throttle,
  TimeoutError,
  TlsError,
  Unavailable,
} from './errors.js';

import type { MsgHeaders } from './protocol.js';

/** This library's version (sent as `version` in CONNECT). */
export declare const VERSION: string;

// -------------------------------------------------------------------------------------------------
// Connecting

/**
 * TLS settings. `ca`, `cert`, `key` as PEM (strings or Buffers) or read from `caFile`, `certFile`,
 * `keyFile` when the client is made; any other option of Node's `tls.connect` is passed through.
 */
export interface TlsOptions extends Omit<NodeTlsConnectionOptions, 'host' | 'port' | 'socket' | 'path'> {
  /** Trusted CA certificates; default: Node's bundled roots. */
  ca?: string | Buffer | Array<string | Buffer>;
  caFile?: string;
  /** The client certificate (chain), for servers that verify clients (mutual TLS). */
  cert?: string | Buffer | Array<string | Buffer>;
  certFile?: string;
  /** The client certificate's private key (kept off `client.options`). */
  key?: string | Buffer | Array<string | Buffer>;
  keyFile?: string;
  passphrase?: string;
  /** Default true: a server certificate that does not verify fails the connection. */
  rejectUnauthorized?: boolean;
  /** The name the server certificate must be for (default: the host, unless an IP address). */
  servername?: string;
  /** Same as the `tlsHandshakeFirst` connect option. */
  handshakeFirst?: boolean;
}

export interface ConnectOptions {
  /**
   * `nats://host:port` or `tls://host:port` (TLS required), optionally with credentials
   * (`nats://user:pass@host:4222`, `nats://token@host:4222`), or the same without the scheme.
   */
  url?: string;
  /** Default 127.0.0.1; wins over the url's. */
  host?: string;
  /** Default 4222; wins over the url's. */
  port?: number;
  /** With `pass`: for a server started with `--user`/`--pass`. */
  user?: string;
  pass?: string;
  /**
   * For a server started with `--auth <token>`. Without user/token/seed/creds options: the url, then
   * DOCKET_USER/DOCKET_PASS, DOCKET_TOKEN, DOCKET_NKEY_SEED_FILE or DOCKET_CREDS.
   */
  token?: string;
  /** An NKEY user's seed (`SU…`): signs each connection's nonce, never sent. */
  nkeySeed?: string;
  /** A file holding an NKEY user's seed (`nk -gen user > user.nk`). */
  nkeySeedFile?: string;
  /** An nsc `.creds` file (a user JWT and its seed), for a server in operator mode. */
  credsFile?: string;
  /**
   * true or options: TLS or no connection (as a `tls://` url). false: never TLS (a server that
   * requires it fails the connection). Left out: plain TCP, upgraded to TLS when INFO says `tls_required`.
   */
  tls?: boolean | TlsOptions;
  /** TLS before the server's INFO (a server configured for TLS handshake first); implies TLS. */
  tlsHandshakeFirst?: boolean;
  /** Connection name shown in the server's logs. */
  name?: string;
  /** Deliver this connection's own publishes to its subscriptions (default true). */
  echo?: boolean;
  /** Reconnect after the connection breaks (default true). */
  reconnect?: boolean;
  /** Attempts in a row before giving up and closing (default Infinity). */
  maxReconnectAttempts?: number;
  /** First wait between attempts, doubled up to maxReconnectDelayMs (default 50). */
  reconnectDelayMs?: number;
  /** Default 2000. */
  maxReconnectDelayMs?: number;
  /** Up to this much more, at random, on each wait between attempts (default 100, as NATS clients). */
  reconnectJitterMs?: number;
  /** Time one attempt has to reach a working connection (default 5000; Infinity: no limit). */
  connectTimeoutMs?: number;
  /**
   * Bytes kept in the outbox: commands and publishes made while disconnected, or while the output
   * is backed up (default 8 MiB). Past it: ConnectionLost (disconnected) or BufferFull (connected).
   */
  maxOutboxBytes?: number;
  /**
   * Bytes written to the connection and not yet taken by the network (default 64 MiB; Infinity: no
   * limit). Past it, what is sent waits in the outbox; once that is full too, publish() throws and
   * commands reject with BufferFull (nothing sent), and a command held there times out unsent.
   */
  maxBufferedOutputBytes?: number;
  /** Default limit of a subscription's unread messages (default 65536; Infinity: none); past it, messages are dropped (SlowConsumer). */
  maxPendingMsgs?: number;
  /** The same in payload bytes (default 64 MiB; Infinity: none). */
  maxPendingBytes?: number;
  /**
   * How often the client PINGs the server to find a dead connection (default 120000, as NATS
   * clients; 0 or null: never). A connection that sent no reply (the PONG, or one before it) for
   * `maxPingsOut` intervals in a row, each with a PING out, is stale: it is closed and the client
   * reconnects. Messages and the server's own PINGs do not count.
   */
  pingIntervalMs?: number | null;
  /** See pingIntervalMs (default 2). */
  maxPingsOut?: number;
  /** The longest command line sent (default 4096, the server's default): longer ones throw InvalidArgument. */
  maxControlLine?: number;
  /** Default timeout of request() (default 5000; Infinity: no limit). */
  requestTimeoutMs?: number;
  /** How long a command waits for its reply, disconnected time included (default 10000; null, 0 or Infinity: no limit). */
  commandTimeoutMs?: number | null;
}

/**
 * Connects and resolves once the server answered CONNECT + PING. Rejects with a DocketClientError:
 * ConnectError (refused, unknown host: `.code` ECONNREFUSED, ENOTFOUND, …), TimeoutError
 * (connectTimeoutMs), AuthorizationError, TlsError, ServerError, ConnectionLost or ProtocolError.
 */
export declare function connect(options?: ConnectOptions | string): Promise<Client>;
/** A url, then the other options (any name not of ConnectOptions is refused with InvalidArgument). */
export declare function connect(url: string, options?: ConnectOptions): Promise<Client>;

// -------------------------------------------------------------------------------------------------
// Documents

/** A queue's settings, defaults filled in. */
export interface QueueConfig {
  /** `"<n>/<ms>ms"` (e.g. `"100/1000ms"`), or null. */
  rate: string | null;
  group_rate: string | null;
  concurrency: number | null;
  attempts: number;
  /** `"exp:1000ms:3600000ms"`, `"fixed:1000ms"`. */
  backoff: string;
  jitter: number;
  lease_ms: number;
  keep_completed: number;
  keep_dead: number;
}

export interface QueueJobCounts {
  waiting: number;
  delayed: number;
  /** Waiting for their parents (`after`). */
  blocked: number;
  active: number;
  completed: number;
  dead: number;
}

/** Over the queue's whole life: `enqueued = waiting + delayed + active + completed + dead + removed + deleted`. */
export interface QueueTotals {
  enqueued: number;
  started: number;
  completed: number;
  failed: number;
  dead: number;
  throttled: number;
  removed: number;
  deleted: number;
}

/** Per second, over the last minute of this server's run. */
export interface QueueRates {
  started_per_s: number;
  completed_per_s: number;
  failed_per_s: number;
  dead_per_s: number;
}

/** The queue document (`QUEUE <queue>`, each element of `QUEUES`). */
export interface QueueInfo {
  queue: string;
  paused: boolean;
  config: QueueConfig;
  jobs: QueueJobCounts;
  totals: QueueTotals;
  rates: QueueRates;
  oldest_waiting_ms: number | null;
  active: number;
  waiting_workers: number;
  rate_window_starts: number | null;
  /** Unix ms when a held queue may start again, or null. */
  next_start_at: number | null;
  blocked_by: 'paused' | 'concurrency' | 'throttle' | 'rate' | null;
  /** Throttle end (unix ms), or null. */
  held_until: number | null;
}

/** The server's counters (`STATS`). */
export interface ServerStats {
  server_id: string;
  version: string;
  docket_version: string;
  uptime_ms: number;
  connections: number;
  total_connections: number;
  refused_connections: number;
  subscriptions: number;
  slow_consumers: number;
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
  jobs: number;
  queues: number;
  commits: number;
  commit_us_total: number;
  store_used_bytes: number;
  store_capacity_bytes: number;
  store_file_bytes: number;
  sync: 'always' | 'none' | (string & {});
  max_payload: number;
  route_refusals: number;
  skipped_ticks: number;
  checkpoint_waits: number;
}

export type JobState = 'waiting' | 'delayed' | 'blocked' | 'active' | 'completed' | 'dead';

/** A job document (`INSPECT`, each element of `DEAD`). Times are unix ms; ids above 2^53 - 1 are exact decimal strings. */
export interface JobInfo {
  id: JobId;
  queue: string;
  state: JobState;
  priority: number;
  /** Runs so far. */
  attempts: number;
  max_attempts: number;
  backoff: string;
  jitter: number;
  lease_ms: number;
  key: string | null;
  group: string | null;
  enqueued_at: number | null;
  run_at: number | null;
  started_at: number | null;
  finished_at: number | null;
  progress: number;
  progress_note: string | null;
  last_error: string | null;
  /** UTF-8 text, or null. */
  result: string | null;
  payload_bytes: number;
  /** Unix ms after which it is not started any more (`ttl`/`expires`), or null. */
  expires_at: number | null;
  /** The jobs it was enqueued after (`after`), in that order; only on a job with parents. */
  parents?: JobId[];
  /** What a parent's death does to it; only on a job with parents. */
  on_parent_dead?: 'fail' | 'run';
  /** The jobs enqueued after it that still exist; only on a job with children (INSPECT: the first 1000 by id). */
  children?: JobId[];
  /** INSPECT: true when the job has more than the 1000 children listed (`CHILDREN <id>` pages through them). */
  children_truncated?: boolean;
  /** Unix ms until which its key is remembered; only with `keyTtl`. */
  key_until?: number;
  /**
   * Its attempt history (`inspect` only): the attempts that ended without completing it, the
   * last 10, oldest first; empty for a job that never failed.
   */
  failed_attempts?: FailedAttempt[];
}

/**
 * An attempt that ended without completing its job: `error` is the FAIL reason (null without
 * one), `stalled: …` for a lease that ran out, `worker lost: …` for a worker that went.
 */
export interface FailedAttempt {
  attempt: number;
  /** Unix ms. */
  started_at: number | null;
  ended_at: number;
  error: string | null;
}

/** A parent and its outcome (`parents()`): `result` and `error` are UTF-8 text or null. */
export interface ParentOutcome {
  id: JobId;
  queue: string;
  state: JobState;
  result: string | null;
  error: string | null;
}
/** A parent deleted since its child was enqueued. */
export interface DeletedParent {
  id: JobId;
  state: 'deleted';
}
/** Each element of `parents()`; narrow on `state`. */
export type ParentInfo = ParentOutcome | DeletedParent;

/** One page of a queue's jobs in one state (`LIST`). */
export type JobPage = ProtocolJobPage<JobInfo>;

/** A schedule (`SCHEDULES`). */
export interface ScheduleInfo {
  name: string;
  queue: string;
  /** The cron expression (cron schedules). */
  cron?: string;
  /** The zone the expression is read in (cron schedules). */
  tz?: string;
  /** The interval (every= schedules). */
  every_ms?: number;
  catchup: 'none' | 'one' | 'all';
  /** The SCHEDULE arguments as written. */
  rule: string;
  payload_bytes: number;
  paused: boolean;
  /** Unix ms. */
  created_at: number;
  /** The tick handled last (unix ms), or null. */
  last_tick: number | null;
  /** The next three ticks (unix ms); empty while paused. */
  next: number[];
}

/** A route (`ROUTES`). */
export interface RouteInfo {
  id: number;
  pattern: string;
  queue: string;
  /** The route as written. */
  rule: string;
  /** The user who made it, whose rights it runs with (servers with users configured). */
  owner?: string;
}

// -------------------------------------------------------------------------------------------------
// Lifecycle events ($JOB.<queue>.<event>)

export type JobEventName = JobEvent['event'];

/** Fields of every lifecycle event. */
export interface JobEventBase {
  /** Per queue, increasing by one per event; a jump means missed events. */
  seq: number;
  id: JobId;
  queue: string;
  attempt: number;
  max_attempts: number;
  /** The job's state after the transition. */
  state: JobState;
  /** Unix ms. */
  at: number;
  group?: string;
  /** The subject it came on (added by the client). */
  subject: string;
}
export interface JobEnqueuedEvent extends JobEventBase { event: 'enqueued' }
export interface JobStartedEvent extends JobEventBase { event: 'started'; wait_ms: number }
export interface JobProgressEvent extends JobEventBase { event: 'progress'; progress: number; note?: string }
export interface JobCompletedEvent extends JobEventBase { event: 'completed'; run_ms: number; result_bytes: number }
/** FAIL ended the attempt (`failed`), its lease expired (`stalled`), or its worker's connection closed (`lost`). */
export interface JobFailedEvent extends JobEventBase {
  event: 'failed' | 'stalled' | 'lost';
  error: string;
  next: 'retry' | 'dead';
  retry_in_ms?: number;
  run_ms: number;
}
export interface JobDeadEvent extends JobEventBase { event: 'dead'; error: string }
export interface JobThrottledEvent extends JobEventBase { event: 'throttled'; error: string; retry_in_ms: number; run_ms: number }
export interface JobRetriedEvent extends JobEventBase { event: 'retried' }
/** A schedule's tick made the job (after its `enqueued`). */
export interface JobScheduledEvent extends JobEventBase { event: 'scheduled'; schedule: string; tick: number }
/** Its expiry (`ttl`/`expires`) came before an attempt started: it is dead. */
export interface JobExpiredEvent extends JobEventBase { event: 'expired'; error: string }
/** A delayed job became due, or PROMOTE moved it. */
export interface JobWaitingEvent extends JobEventBase { event: 'waiting' }
/** Enqueued `after` jobs not all completed (after its `enqueued`): it waits for `parents`. */
export interface JobBlockedEvent extends JobEventBase { event: 'blocked'; parents: JobId[] }
/** Its last parent completed (or died, with `onParentDead: 'run'`): it is waiting or delayed now. */
export interface JobUnblockedEvent extends JobEventBase { event: 'unblocked' }

/** A lifecycle event; narrow on `event`. */
export type JobEvent =
  | JobEnqueuedEvent
  | JobStartedEvent
  | JobProgressEvent
  | JobCompletedEvent
  | JobFailedEvent
  | JobDeadEvent
  | JobThrottledEvent
  | JobRetriedEvent
  | JobScheduledEvent
  | JobExpiredEvent
  | JobWaitingEvent
  | JobBlockedEvent
  | JobUnblockedEvent;

/** Lifecycle events as an async iterator; leaving the loop or `close()` unsubscribes. */
export declare class JobEvents implements AsyncIterable<JobEvent> {
  readonly subscription: Subscription;
  /** Resolves when it has ended. */
  readonly closed: Promise<void>;
  close(): void;
  [Symbol.asyncIterator](): AsyncIterator<JobEvent>;
}

// -------------------------------------------------------------------------------------------------
// Messages

/** A message delivered to a subscription. */
export declare class Msg {
  /** The concrete subject it was published on. */
  readonly subject: string;
  readonly sid: string;
  /** Where a responder answers, or null. */
  readonly reply: string | null;
  readonly data: Buffer;
  readonly headers: MsgHeaders | null;
  /** A status from the header line (503: no responders), or null. */
  readonly status: number | null;
  readonly description: string | null;
  /** The payload as UTF-8. */
  string(): string;
  /** The payload parsed as JSON. */
  json<T = any>(): T;
  /** Publishes an answer to the reply subject; false when there is none. */
  respond(data?: Payload, opts?: { headers?: HeadersInit }): boolean;
}

export interface SubscribeOptions {
  /** A queue group: each message goes to one member. */
  queue?: string;
  /** End after this many messages in total. */
  max?: number;
  /** Called for each message instead of the iterator (and with the error that ends the subscription, if any). */
  callback?: (err: Error | null, msg: Msg | null) => void;
  /** Unread messages kept (default: the client's maxPendingMsgs, 65536); past it, dropped and reported as SlowConsumer. */
  maxPendingMsgs?: number;
  /** Unread payload bytes kept (default: the client's maxPendingBytes, 64 MiB). */
  maxPendingBytes?: number;
}

/** A subscription: an async iterator of Msg, or a callback. It survives reconnects. */
export declare class Subscription implements AsyncIterable<Msg> {
  readonly sid: number;
  readonly subject: string;
  readonly queue: string | undefined;
  /** Messages received so far (dropped ones included: they count towards `max`, as on the server). */
  readonly received: number;
  /** Messages dropped because `maxPendingMsgs` or `maxPendingBytes` were unread. */
  readonly dropped: number;
  readonly maxPendingMsgs: number;
  readonly maxPendingBytes: number;
  max: number | undefined;
  readonly isClosed: boolean;
  /** Resolves when the subscription has ended. */
  readonly closed: Promise<void>;
  /** Messages received and not yet read. */
  readonly pending: number;
  /** Payload bytes of the messages received and not yet read. */
  readonly pendingBytes: number;
  /** Stops at once, or after `max` messages in total (a bad `max` throws InvalidArgument). */
  unsubscribe(max?: number): void;
  [Symbol.asyncIterator](): AsyncIterator<Msg>;
}

// -------------------------------------------------------------------------------------------------
// The client

/**
 * A connection to docketd. Events: `connect`, `disconnect` (err), `reconnecting` (attempt,
 * delayMs), `reconnect`, `error` (asynchronous errors: ServerError, PermissionError,
 * AuthorizationError on a refused reconnect, ProtocolError, SlowConsumer, and what a listener or
 * a subscription callback threw), `close` (err | null). A listener that throws never disturbs the
 * connection: its error is emitted as `error` (from an `error` listener, or with none, it is a
 * process warning of type `DocketClientWarning`).
 */
export declare class Client extends EventEmitter {
  constructor(options?: ConnectOptions | string);
  constructor(url: string, options?: ConnectOptions);
  /** The settings, without password, token or TLS key (the url redacted). */
  readonly options: Readonly<ConnectOptions> & { host: string; port: number };
  /** The server's INFO. */
  readonly info: Record<string, any> | null;
  readonly state: 'connecting' | 'connected' | 'disconnected' | 'closed';
  /** Connections made after the first one. */
  readonly reconnects: number;
  /** The last server -ERR or socket error. */
  readonly lastError: Error | null;
  readonly isConnected: boolean;
  readonly isClosed: boolean;
  /** True while the connection runs over TLS. */
  readonly isSecure: boolean;
  /** How this client authenticates, without secrets. */
  readonly authentication: string;

  // NATS core
  /** Throws InvalidArgument (nothing sent), ConnectionClosed, or BufferFull when the output and the outbox are full. */
  publish(subject: string, data?: Payload, opts?: { reply?: string; headers?: HeadersInit }): void;
  /** Every option is checked before anything is sent or kept; `max: 0` returns a subscription that has ended. */
  subscribe(subject: string, opts?: SubscribeOptions): Subscription;
  /**
   * `timeout` ms (default requestTimeoutMs; 0: TimeoutError at once; Infinity: no limit; NaN or negative: InvalidArgument).
   * `signal`: its abort rejects with its reason (an aborted one: at once, nothing sent); a later reply is dropped.
   */
  request(subject: string, data?: Payload, opts?: { timeout?: number | null; headers?: HeadersInit; signal?: AbortSignal }): Promise<Msg>;
  /**
   * Publishes a message that routes turn into jobs; resolves with their ids once on disk (`[]`
   * when neither a route nor a subscriber took it); StoreFull when the store refused them.
   */
  publishRouted(subject: string, data?: Payload, opts?: { timeout?: number | null; headers?: HeadersInit; signal?: AbortSignal }): Promise<number[]>;
  /**
   * Resolves once the server has handled everything sent before (PING → PONG). `timeout` ms
   * (default commandTimeoutMs; 0: TimeoutError at once; null or Infinity: no limit; NaN or negative: InvalidArgument).
   * `signal`: its abort rejects with its reason.
   */
  flush(opts?: { timeout?: number | null; signal?: AbortSignal }): Promise<void>;
  /** Closes: waiting commands reject with ConnectionClosed; what was written is still delivered. */
  close(): Promise<void>;
  /** flush(), then close(). */
  drain(opts?: { timeout?: number | null }): Promise<void>;

  // Jobs
  /** `replaced`: `replace: true` gave a job still waiting or delayed this payload and run time. */
  enqueue(queue: string, payload: Payload, opts?: EnqueueOptions): Promise<{ id: JobId; duplicate: boolean; replaced: boolean }>;
  /**
   * Enqueues the jobs together (`BATCH`), all or none; a job's `after` may name `'#<n>'`, an
   * earlier job of the batch. Resolves with their ids, in order. Every job is checked first.
   */
  batch(jobs: BatchJob[]): Promise<JobId[]>;
  /** The outcomes of the jobs `id` was enqueued after, in order (`PARENTS`); `[]` without parents. */
  parents(id: number | string): Promise<ParentInfo[]>;
  /** One page of a job's children, by id (`CHILDREN`); `next` is the next page's `after`, null on the last. */
  children(id: number | string | bigint, opts?: { after?: number | string | bigint | null; limit?: number }): Promise<{ id: JobId; children: JobId[]; next: JobId | null }>;
  /** Every child of a job, by id, page after page (`CHILDREN`). */
  childrenAll(id: number | string | bigint, opts?: { pageSize?: number }): AsyncIterableIterator<JobId>;
  /**
   * The next job of the first queue that has one; null when `timeout` passes. Without a timeout the connection waits.
   * `signal`: its abort rejects with its reason; the server still waits out the RESERVE, and a job that comes after is given back.
   */
  reserve(queues: string | string[], opts?: { timeout?: Duration; signal?: AbortSignal }): Promise<Job | null>;
  ack(id: number | string, result?: Payload, opts?: { attempt?: number }): Promise<void>;
  fail(id: number | string, opts?: FailOptions): Promise<FailOutcome>;
  progress(id: number | string, percent: number, note?: Payload, opts?: { attempt?: number }): Promise<void>;
  touch(id: number | string, opts?: { attempt?: number }): Promise<void>;
  /** The job's outcome once it is completed or dead; `{pending: true}` when `timeout` passes first. */
  /** `signal`: its abort rejects with its reason (the server still waits out the WAIT). */
  wait(id: number | string, opts?: { timeout?: Duration; signal?: AbortSignal }): Promise<JobOutcome>;
  inspect(id: number | string): Promise<JobInfo>;
  dead(queue: string, opts?: { limit?: number }): Promise<JobInfo[]>;
  retry(id: number | string): Promise<void>;
  /** Runs every dead job of a queue again; resolves with how many. */
  retryQueue(queue: string): Promise<number>;
  delete(id: number | string): Promise<void>;
  help(): Promise<string>;

  // Browsing and bulk repair
  /** One page of a queue's jobs in one state (default waiting); pass `next` as `after` for the next page. */
  list(queue: string, opts?: ListOptions): Promise<JobPage>;
  /** Every job of a queue in one state, following the cursors page by page (`pageSize` per LIST). */
  listAll(queue: string, opts?: { state?: JobStateName; pageSize?: number }): AsyncIterableIterator<JobInfo>;
  /** Deletes a queue's jobs in a state (not active), `older` than a duration; resolves with how many. */
  purge(queue: string, opts: PurgeOptions): Promise<number>;
  /** A delayed job waits from now on; NotDelayed for a job in any other state. */
  promote(id: number | string): Promise<void>;

  // Queues, counters, routes, events
  queue(name: string): Promise<QueueInfo>;
  /** One page of the queues, by name: up to `limit` (1..1000, server default 1000) of those named after `after`; empty past the last. */
  queues(opts?: { after?: string | null; limit?: number | null }): Promise<QueueInfo[]>;
  stats(): Promise<ServerStats>;
  setQueue(name: string, settings: QueueSettings): Promise<void>;
  pause(name: string): Promise<void>;
  resume(name: string): Promise<void>;
  /** Resolves with the route id. */
  route(pattern: string, queue: string, options?: RouteOptions): Promise<JobId>;
  unroute(id: number | string): Promise<void>;
  /** Every route, page after page. */
  routes(): Promise<RouteInfo[]>;
  /** One page of the routes, by id: those above `after`, up to `limit` (1 to 1000). */
  routesPage(opts?: { after?: number | string | null; limit?: number | null }): Promise<RouteInfo[]>;

  // Schedules
  /** Creates or replaces a schedule: each tick enqueues one job keyed `<name>@<tick>`. */
  schedule(name: string, queue: string, payload: Payload, opts: ScheduleOptions): Promise<void>;
  /** Removes a schedule; NotFound when there is none of that name. */
  unschedule(name: string): Promise<void>;
  /** One page of the schedules (of the queues this user may read), by name: up to `limit` (1..1000, server default 100) named after `after`; empty past the last. */
  schedules(opts?: { after?: string | null; limit?: number }): Promise<ScheduleInfo[]>;
  /** Every schedule, by name: `schedules()` page after page. */
  schedulesAll(opts?: { pageSize?: number }): AsyncIterableIterator<ScheduleInfo>;
  /** Ticks that pass while paused are skipped. */
  pauseSchedule(name: string): Promise<void>;
  resumeSchedule(name: string): Promise<void>;

  /** Lifecycle events of a queue (`$JOB.<queue>.>`), or of every queue (no argument or `'*'`). */
  events(queue?: string, opts?: { events?: JobEventName[]; maxPendingMsgs?: number; maxPendingBytes?: number }): JobEvents;

  /** Sends an encoded command that gets exactly one reply (see commandBytes); the building block of every verb. */
  command<T = any>(
    bytes: Buffer,
    call: string,
    opts?: {
      timeout?: number | null;
      decode?: (frame: Frame) => T;
      late?: (value: T) => void;
      /** Ms the server may hold this command on purpose (a verb that waits; Infinity: as long as it takes): that silence does not make the connection stale. */
      serverWait?: number;
    },
  ): Promise<T>;

  on(event: 'connect' | 'reconnect', listener: () => void): this;
  on(event: 'disconnect', listener: (err: Error | null) => void): this;
  on(event: 'reconnecting', listener: (attempt: number, delayMs: number) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'close', listener: (err: Error | null) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: 'connect' | 'reconnect', listener: () => void): this;
  once(event: 'disconnect', listener: (err: Error | null) => void): this;
  once(event: 'reconnecting', listener: (attempt: number, delayMs: number) => void): this;
  once(event: 'error', listener: (err: Error) => void): this;
  once(event: 'close', listener: (err: Error | null) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}

// -------------------------------------------------------------------------------------------------
// Workers

/** A console-like logger: one string per call. `debug` is optional. */
export interface Logger {
  debug?(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** What a handler gets. */
export interface JobContext {
  /** The same for every run of the job. */
  readonly id: JobId;
  readonly queue: string;
  /** Which run this is, from 1 (not unique after a server crash: use `delivery`). */
  readonly attempt: number;
  /** This run's delivery id, unique for the data directory's life: the key for idempotent side effects. */
  readonly delivery: number | string | null;
  /** The job's lease, when known. */
  readonly leaseMs: number | null;
  readonly payload: Buffer;
  text(): string;
  json<T = any>(): T;
  /** Records progress (0..100) and extends the lease; failures are logged, never unhandled. */
  progress(percent: number, note?: Payload): Promise<void>;
  /** Extends the lease now. */
  touch(): Promise<void>;
  /** The outcomes of the jobs this one was enqueued after (`PARENTS`); `[]` without parents. */
  parents(): Promise<ParentInfo[]>;
  /** Aborted when the worker gives the job up (lease lost, shutdown grace over, maxRunTimeMs passed). */
  readonly signal: AbortSignal;
}

export interface WorkerOptions extends ConnectOptions {
  /** Queues to take jobs from, in order of preference. */
  queues: string | string[];
  /** Its return value is the job's result; a throw FAILs the job (NonRetryableError, RetryAfterError, Throttle steer it). */
  handler: (job: JobContext) => unknown | Promise<unknown>;
  /** Jobs run at once, one connection each (default 1). */
  concurrency?: number;
  /** TOUCH interval while a handler runs. Default: a third of each job's lease; null: none. */
  heartbeatMs?: number | null;
  /** How long one RESERVE waits (default 1000; at most 366 days, else InvalidArgument). */
  reserveTimeoutMs?: number;
  /** How long stop() lets running jobs finish (default 10000; Infinity: as long as they take). */
  graceMs?: number;
  /**
   * The longest one run of the handler may take (default null: no limit). Past it the worker stops
   * extending the lease, aborts `signal`, FAILs the job (retried by its backoff), drops the
   * handler's outcome if it ever comes, and takes the next job.
   */
  maxRunTimeMs?: number | null;
  /** SIGTERM/SIGINT stop the worker; a second one exits at once (default true). */
  handleSignals?: boolean;
  /** Default console; null: silent. One info line per job outcome, problems at warn/error. */
  logger?: Logger | null;
  /** Connect options (top-level ones work too). */
  connection?: ConnectOptions;
}

/** How a failed job went on (`failed` event). */
export type WorkerFailOutcome = FailOutcome | { outcome: 'lease_lost' };

/** Runs a handler for jobs. Events: `completed`, `failed`, `error`, `stopped`. */
export declare class Worker extends EventEmitter {
  constructor(options: WorkerOptions);
  readonly queues: string | string[];
  readonly concurrency: number;
  readonly logger: Logger | null;
  /** The connect options, without password, token or TLS key. */
  readonly connection: ConnectOptions;
  readonly clients: Client[];
  /** Jobs being handled now. */
  readonly running: number;
  /** Resolves once the worker has stopped. */
  readonly stopped: Promise<void>;
  /** Opens the connections (retrying while the server cannot be reached) and starts taking jobs. */
  start(): Promise<this>;
  /**
   * Stops taking jobs, lets running ones finish within graceMs, hands back the rest, closes.
   * Called from inside a handler, it does not wait for that handler: it resolves once the rest has
   * stopped, and the calling job then finishes (ACK/FAIL) as usual; `stopped` resolves after that.
   */
  stop(opts?: { graceMs?: number }): Promise<void>;

  on(event: 'completed', listener: (job: Job, result: unknown) => void): this;
  on(event: 'failed', listener: (job: Job, error: unknown, outcome: WorkerFailOutcome) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'stopped', listener: () => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: 'completed', listener: (job: Job, result: unknown) => void): this;
  once(event: 'failed', listener: (job: Job, error: unknown, outcome: WorkerFailOutcome) => void): this;
  once(event: 'error', listener: (err: Error) => void): this;
  once(event: 'stopped', listener: () => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}
