#!/usr/bin/env python3
"""Watcher: follows every order through the job lifecycle events and reports its outcome.

    python3 watcher.py --server nats://127.0.0.1:4222 [--orders 10 --timeout 60]

For every job transition the server publishes an event on `$JOB.<queue>.<event>`. The watcher
subscribes to `$JOB.invoices.>` and `$JOB.emails.>` with plain nats-py, prints a line per
transition, and once an order's invoice job is finished (completed or dead) and its email job too,
it prints the order's outcome:

    order 17: invoice completed after 2 attempts, email sent

That line is observed, not guessed: it is written from what the server says happened.

Events carry no payload, so the watcher learns which order a job belongs to from what the workers
put in the job: invoice workers start every progress note and failure reason with `order <id>:`,
and each email job has the idempotency key `email-<id>`, which the watcher reads with
`$DOCKET.API.INSPECT.<job id>` the first time it sees the job.

With --orders N it exits once N orders have an outcome (status 0), or when --timeout passes
(status 1). Start it before the shop: the server only records events while someone listens.
"""
import argparse
import asyncio
import json
import os
import re
import signal
import sys

import nats


def emit(line):
    """Writes one whole line at once, so lines of processes sharing a terminal do not mix."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


ORDER_IN_TEXT = re.compile(r"^order (\d+):\s*")
ORDER_IN_KEY = re.compile(r"^email-(\d+)$")


def say(text=""):
    emit(f"watcher   | {text}" if text else "watcher   |")


class Job:
    def __init__(self, queue, job_id):
        self.queue, self.id = queue, job_id
        self.order = None       # the order id, once known
        self.buffered = []      # events seen before the order was known
        self.state = None
        self.final = None       # "completed" or "dead"
        self.attempts = 0
        self.max_attempts = None
        self.last_error = None
        self.inspected = False


class Order:
    def __init__(self, order_id):
        self.id = order_id
        self.invoices = {}      # job id -> Job (one, unless the shop published the order twice)
        self.emails = {}        # job id -> Job
        self.outcome = None


class Watcher:
    def __init__(self, nc, expected):
        self.nc = nc
        self.expected = expected
        self.started_ms = None          # the time of the first event: times are shown from it
        self.events = asyncio.Queue()   # both subscriptions feed this, one consumer handles it
        self.jobs = {}                  # (queue, id) -> Job
        self.orders = {}                # order id -> Order
        self.outcomes = []              # outcome lines in the order they were reached
        self.unknown_outcomes = {}      # invoice job id -> outcome, for jobs no order was found for
        self.last_seq = {}              # queue -> last seq seen
        self.gaps = 0
        self.count = 0
        self.email_starts = []
        self.all_done = asyncio.Event()

    # ---- receiving

    async def on_message(self, msg):
        self.events.put_nowait(("event", json.loads(msg.data)))

    async def consume(self):
        while True:
            kind, item = await self.events.get()
            if kind == "event":
                await self.handle(item)
            else:                        # ("check", key): a settled outcome candidate
                self.check(item)

    # ---- one event

    async def handle(self, ev):
        self.count += 1
        if self.started_ms is None:
            self.started_ms = ev["at"]
        queue = ev["queue"]
        last = self.last_seq.get(queue)
        if last is not None and ev["seq"] != last + 1:
            self.gaps += 1
            say(f"!! {queue}: events {last + 1}..{ev['seq'] - 1} were missed (seq jumped)")
        self.last_seq[queue] = ev["seq"]

        job = self.jobs.get((queue, ev["id"]))
        if job is None:
            job = self.jobs[(queue, ev["id"])] = Job(queue, ev["id"])
        job.state = ev["state"]
        job.attempts = max(job.attempts, ev.get("attempt", 0))
        job.max_attempts = ev.get("max_attempts")
        if ev.get("error"):
            job.last_error = ORDER_IN_TEXT.sub("", ev["error"])
        if ev["event"] in ("completed", "dead"):
            job.final = ev["event"]
        elif ev["event"] in ("started", "retried"):
            job.final = None  # a dead job sent back with RETRY runs again
        if queue == "emails" and ev["event"] == "started":
            self.email_starts.append(ev["at"])

        if job.order is None:
            await self.learn_order(job, ev)
        if job.order is None:
            job.buffered.append(ev)
            if job.final and queue == "invoices":
                self.settle(("job", job.id))  # finished without ever naming its order
            return
        self.show(job, ev)
        if job.final:
            self.settle(("order", job.order))

    async def learn_order(self, job, ev):
        order_id = None
        if job.queue == "invoices":
            for text in (ev.get("note"), ev.get("error")):
                match = ORDER_IN_TEXT.match(text or "")
                if match:
                    order_id = int(match.group(1))
        elif job.queue == "emails" and not job.inspected:
            try:
                reply = await self.nc.request(f"$DOCKET.API.INSPECT.{job.id}", b"", timeout=5)
            except nats.errors.Error as error:
                say(f"!! could not inspect email job {job.id}: {error!r}; trying again at its next event")
                return
            job.inspected = True
            doc = json.loads(reply.data)
            match = ORDER_IN_KEY.match(doc.get("key") or "")
            if match:
                order_id = int(match.group(1))
        if order_id is None:
            return
        job.order = order_id
        order = self.orders.setdefault(order_id, Order(order_id))
        (order.invoices if job.queue == "invoices" else order.emails)[job.id] = job
        for earlier in job.buffered:
            self.show(job, earlier)
        job.buffered = []

    # ---- printing

    def show(self, job, ev, label=None):
        seconds = "+%.3fs" % ((ev["at"] - self.started_ms) / 1000)
        who = label or f"order {job.order}"
        kind = "invoice" if job.queue == "invoices" else "email"
        attempt = f"attempt {ev['attempt']}/{ev['max_attempts']}"
        event = ev["event"]
        error = ORDER_IN_TEXT.sub("", ev.get("error") or "")
        nxt = ""
        if ev.get("next") == "retry":
            nxt = f" -> retry in {ev.get('retry_in_ms', 0)} ms"
        elif ev.get("next") == "dead":
            nxt = " -> no attempts left"
        if event == "enqueued":
            text = f"up to {ev['max_attempts']} attempts"
        elif event == "started":
            text = f"{attempt}, waited {ev.get('wait_ms', 0)} ms"
        elif event == "progress":
            note = ORDER_IN_TEXT.sub("", ev.get("note") or "")
            text = f"{ev.get('progress')}%" + (f" {note}" if note else "")
        elif event == "completed":
            text = f"{attempt}, ran {ev.get('run_ms', 0)} ms"
        elif event == "failed":
            text = f"{attempt}: {error}{nxt}"
        elif event == "stalled":
            text = f"{attempt}: lease expired{nxt}"
        elif event == "lost":
            text = f"{attempt}: {error}{nxt}"
        elif event == "dead":
            text = f"after {ev['attempt']} attempts: {error}"
        elif event == "throttled":
            text = f"{attempt}: {error}"
        elif event == "retried":
            text = "a dead job sent back to work"
        else:
            text = json.dumps(ev)
        say(f"{seconds:>9}  {who:<9} {kind:<7} job {job.id:<4} {event:<10} {text}")

    # ---- outcomes

    def settle(self, key):
        """Checks an outcome candidate after one round trip to the server.

        The two subscriptions are handled by separate tasks in nats-py, so an event of one queue
        can overtake an earlier event of the other; after a PING/PONG every event the server sent
        before has arrived, and the check is queued behind them."""
        async def later():
            try:
                await self.nc.flush(timeout=5)
                await asyncio.sleep(0.02)
            except Exception:
                pass
            self.events.put_nowait(("check", key))
        asyncio.get_running_loop().create_task(later())

    def check(self, key):
        kind, ident = key
        if kind == "job":
            job = self.jobs[("invoices", ident)]
            if job.order is not None or ident in self.unknown_outcomes:
                return
            for ev in job.buffered:
                self.show(job, ev, label="order ?")
            job.buffered = []
            tries = f"{job.attempts} attempt" + ("s" if job.attempts != 1 else "")
            line = f"invoice job {ident} (order unknown): {job.final} after {tries}"
            self.unknown_outcomes[ident] = line
            self.reached(line)
            return
        order = self.orders[ident]
        if order.outcome or not order.invoices:
            return
        invoices, emails = list(order.invoices.values()), list(order.emails.values())
        if any(job.final is None for job in invoices + emails):
            return
        if any(job.final == "completed" for job in invoices) and not emails:
            return  # an invoice only completes after queuing its email: its events are still coming
        order.outcome = f"order {order.id}: " + describe(invoices, emails)
        self.reached(order.outcome)

    def reached(self, line):
        self.outcomes.append(line)
        say(f"==> {line}")
        if self.expected and len(self.outcomes) >= self.expected:
            self.all_done.set()

    async def summary(self, stopped):
        say()
        say(f"Outcome of {len(self.outcomes)} orders, from {self.count} lifecycle events"
            + (f" ({self.gaps} gaps in seq!)" if self.gaps else " (seq contiguous: none missed)") + ":")
        for order_id in sorted(self.orders):
            order = self.orders[order_id]
            if order.outcome:
                say(f"  {order.outcome}")
            else:
                say(f"  order {order_id}: NO OUTCOME YET ({states(order)})")
        for line in self.unknown_outcomes.values():
            say(f"  {line}")
        unmapped = [job for job in self.jobs.values() if job.order is None and job.id not in self.unknown_outcomes]
        for job in unmapped:
            say(f"  {job.queue} job {job.id}: order unknown, state {job.state}")
        if stopped:
            say(f"  {stopped}: {len(self.outcomes)} of {self.expected} orders reached an outcome")

        invoices = [j for j in self.jobs.values() if j.queue == "invoices"]
        emails = [j for j in self.jobs.values() if j.queue == "emails"]
        retried = sum(1 for j in invoices if j.final == "completed" and j.attempts > 1)
        say(f"  invoices: {sum(j.final == 'completed' for j in invoices)} completed "
            f"({retried} after a retry), {sum(j.final == 'dead' for j in invoices)} dead; "
            f"emails: {sum(j.final == 'completed' for j in emails)} sent, {sum(j.final == 'dead' for j in emails)} dead")
        try:
            for queue in ("invoices", "emails"):
                reply = await self.nc.request(f"$DOCKET.API.QUEUE.{queue}", b"", timeout=5)
                doc = json.loads(reply.data)
                totals = ", ".join(f"{k} {v}" for k, v in doc["totals"].items())
                say(f"  server's counters for {queue}: {totals}")
                rate = doc["config"].get("rate")
                if queue == "emails" and rate and self.email_starts:
                    limit, window = parse_rate(rate)
                    busiest = most_in_window(sorted(self.email_starts), window)
                    verdict = "within" if busiest <= limit else "OVER"
                    say(f"  emails started: {len(self.email_starts)}, at most {busiest} in any {window} ms "
                        f"window ({verdict} the queue's rate {rate})")
        except Exception as error:  # the summary of events stands without the counters
            say(f"  (could not read the queue counters: {error!r})")


def describe(invoices, emails):
    parts = []
    for job in invoices:
        tries = f"{job.attempts} attempt" + ("s" if job.attempts != 1 else "")
        if job.final == "completed":
            parts.append(f"invoice completed after {tries}")
        else:
            parts.append(f"invoice dead after {tries} ({job.last_error})")
    sent = [job for job in emails if job.final == "completed"]
    dead = [job for job in emails if job.final == "dead"]
    if sent:
        parts.append("email sent" if len(sent) == 1 else f"{len(sent)} emails sent")
    if dead:
        parts.append(f"email dead ({dead[0].last_error})")
    if not emails:
        parts.append("no email sent")
    return ", ".join(parts)


def states(order):
    jobs = list(order.invoices.values()) + list(order.emails.values())
    return ", ".join(f"{j.queue} job {j.id} {j.state}" for j in jobs)


def parse_rate(text):
    """`2/1000ms` -> (2, 1000)."""
    count, window = text.split("/")
    units = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}
    match = re.fullmatch(r"(\d*)(ms|s|m|h|d)?", window)
    amount = int(match.group(1) or 1)
    return int(count), amount * units[match.group(2) or "s"]


def most_in_window(times, window):
    """The most start times in any half-open window [t, t + window)."""
    best, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("DOCKET_URL", "nats://127.0.0.1:4222"))
    parser.add_argument("--orders", type=int, default=0, help="exit once this many orders have an outcome")
    parser.add_argument("--timeout", type=float, default=0, help="give up after this many seconds (with --orders)")
    parser.add_argument("--ready-file", help="created once the subscriptions are in place")
    args = parser.parse_args()

    async def on_error(error):
        say(f"connection error: {error!r}")

    nc = await nats.connect(args.server, name="watcher", allow_reconnect=False, error_cb=on_error)
    watcher = Watcher(nc, args.orders)
    await nc.subscribe("$JOB.invoices.>", cb=watcher.on_message)
    await nc.subscribe("$JOB.emails.>", cb=watcher.on_message)
    await nc.flush()
    say("subscribed to $JOB.invoices.> and $JOB.emails.>")
    if args.ready_file:
        open(args.ready_file, "w").close()

    consumer = asyncio.get_running_loop().create_task(watcher.consume())
    stopped = None
    try:
        if args.orders:
            await asyncio.wait_for(watcher.all_done.wait(), args.timeout or None)
        else:
            await asyncio.Event().wait()  # until Ctrl-C
    except asyncio.TimeoutError:
        stopped = "TIMED OUT"
    except asyncio.CancelledError:
        stopped = "INTERRUPTED" if args.orders else None
    consumer.cancel()
    await watcher.summary(stopped)
    await nc.close()
    complete = stopped is None and (not args.orders or len(watcher.outcomes) >= args.orders)
    return 0 if complete else 1


def run():
    async def runner():
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        return await main()

    try:
        return asyncio.run(runner())
    except asyncio.CancelledError:
        return 1


if __name__ == "__main__":
    sys.exit(run())
