#!/usr/bin/env python3
"""Invoice worker: takes `invoices` jobs through Docket's request/reply API and renders them.

    python3 invoice_worker.py --server nats://127.0.0.1:4222 --name invoice-1

Plain nats-py, no Docket client library: every job operation is a request on
`$DOCKET.API.<VERB>.<arg>` with options in a `Docket-Options` header. For each job it

1. "renders" the invoice (sleeps 0.2-0.5 s), reporting progress 25/50/75 with a note that starts
   with `order <id>:` (the watcher reads the order id from it: lifecycle events carry no payload);
2. queues the customer email as an `emails` job with `key=email-<order id>`, so an attempt that
   fails after this point and is retried does not queue a second email;
3. ACKs with a short result.

About one attempt in four fails on purpose (a template timeout, a 503 from a tax service, or an
archive upload that fails *after* the email was queued) and is FAILed, so the server retries it
after the route's backoff. The lease of a reserved job belongs to this worker's connection: if
the worker dies, the server counts the attempt as failed ("lost") and hands the job out again.
"""
import argparse
import asyncio
import json
import os
import random
import signal
import sys

import nats


def emit(line):
    """Writes one whole line at once, so lines of processes sharing a terminal do not mix."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


RESERVE_WAIT_S = 5  # how long the server holds a RESERVE open; the request timeout must be longer


class DocketError(Exception):
    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code


def docket_answer(msg):
    """The JSON answer of an API request; an `{"error":{...}}` answer becomes a DocketError."""
    doc = json.loads(msg.data)
    if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
        raise DocketError(doc["error"].get("code"), doc["error"].get("message"))
    return doc


async def api(nc, subject, body=b"", options=None, timeout=5):
    headers = {"Docket-Options": options} if options else None
    if isinstance(body, str):
        body = body.encode()
    return docket_answer(await nc.request(subject, body, headers=headers, timeout=timeout))


async def reserve(nc, queue):
    """The next job as (id, attempt, payload), or None when none came within RESERVE_WAIT_S."""
    msg = await nc.request(f"$DOCKET.API.RESERVE.{queue}", b"",
                           headers={"Docket-Options": f"timeout={RESERVE_WAIT_S}s"},
                           timeout=RESERVE_WAIT_S + 5)
    if msg.headers and "Docket-Job-Id" in msg.headers:
        return int(msg.headers["Docket-Job-Id"]), int(msg.headers["Docket-Attempt"]), msg.data
    docket_answer(msg)  # raises on an error answer
    return None  # {"job":null}: nothing within the timeout


FAILURES = {
    "layout": "template service timed out",
    "lines": "tax service answered 503",
    "archive": "archive upload failed after the email was queued",
}


class InvoiceWorker:
    def __init__(self, nc, name, rng, fail_rate):
        self.nc, self.name, self.rng, self.fail_rate = nc, name, rng, fail_rate

    def say(self, text):
        emit(f"{self.name:<10}| {text}")

    async def run(self):
        self.say("waiting for invoices jobs")
        while True:
            job = await reserve(self.nc, "invoices")
            if job is None:
                continue
            job_id, attempt, payload = job
            try:
                try:
                    order = json.loads(payload)
                    order["id"], order["customer"]["name"], order["amount"]
                except (ValueError, TypeError, KeyError):
                    # Retrying cannot fix a message that is not an order: dead at once.
                    await api(self.nc, f"$DOCKET.API.FAIL.{job_id}", "not an order", options="retry=no")
                    self.say(f"job {job_id}: not an order, FAILed with retry=no: {payload[:60]!r}")
                    continue
                await self.handle(job_id, attempt, order)
            except DocketError as error:
                # NOT_HELD: the lease expired or the job was given to someone else meanwhile.
                self.say(f"job {job_id}: the server refused: {error}; leaving the job to the server")

    async def handle(self, job_id, attempt, order):
        oid = order["id"]
        tag = f"job {job_id} attempt {attempt}"
        self.say(f"{tag}: order {oid}, {order['customer']['name']}, {order['amount']:.2f} EUR")
        breaks = self.rng.choice(list(FAILURES)) if self.rng.random() < self.fail_rate else None
        step = self.rng.uniform(0.2, 0.5) / 3

        for percent, note, stage in ((25, "layout", "layout"), (50, "line items", "lines"), (75, "PDF rendered", None)):
            await asyncio.sleep(step)
            if stage is not None and breaks == stage:
                return await self.fail(job_id, tag, f"order {oid}: {FAILURES[stage]}")
            await api(self.nc, f"$DOCKET.API.PROGRESS.{job_id}.{percent}", f"order {oid}: {note}")

        email = {
            "order": oid,
            "to": order["customer"]["email"],
            "subject": f"Your invoice INV-{oid:05d}",
            "amount": order["amount"],
        }
        queued = await api(self.nc, "$DOCKET.API.ENQ.emails", json.dumps(email),
                           options=f"key=email-{oid} attempts=5 backoff=fixed:1s")
        if queued["duplicate"]:
            self.say(f"{tag}: email job {queued['id']} was already queued by an earlier attempt: not queued again")
        else:
            self.say(f"{tag}: email job {queued['id']} queued")

        if breaks == "archive":
            return await self.fail(job_id, tag, f"order {oid}: {FAILURES['archive']}")

        result = f"INV-{oid:05d} {order['amount']:.2f} EUR, email job {queued['id']}"
        await api(self.nc, f"$DOCKET.API.ACK.{job_id}", result)
        self.say(f"{tag}: done, {result}")

    async def fail(self, job_id, tag, reason):
        # No retry= option: the job's own backoff applies (the route's backoff=fixed:500ms).
        answer = await api(self.nc, f"$DOCKET.API.FAIL.{job_id}", reason)
        if answer.get("next") == "retry":
            self.say(f"{tag}: FAILED ({reason}); the server retries it in {answer['retry_in_ms']} ms")
        else:
            self.say(f"{tag}: FAILED ({reason}); no attempts left, the job is dead")


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("DOCKET_URL", "nats://127.0.0.1:4222"))
    parser.add_argument("--name", default="invoice")
    parser.add_argument("--fail-rate", type=float, default=0.25, help="share of attempts that fail (default 0.25)")
    parser.add_argument("--seed", default=None, help="random seed")
    args = parser.parse_args()

    rng = random.Random(None if args.seed is None else f"{args.seed}/{args.name}")
    async def on_error(error):
        emit(f"{args.name:<10}| connection error: {error!r}")

    nc = await nats.connect(args.server, name=args.name, allow_reconnect=False, error_cb=on_error)
    try:
        await InvoiceWorker(nc, args.name, rng, args.fail_rate).run()
    except (nats.errors.Error, ConnectionError) as error:
        emit(f"{args.name:<10}| stopped: {error!r}")
    finally:
        await nc.close()


def run(coroutine):
    """Runs the worker until SIGTERM or SIGINT, then closes its connection."""
    async def runner():
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await coroutine
        except asyncio.CancelledError:
            pass
    asyncio.run(runner())


if __name__ == "__main__":
    run(main())
