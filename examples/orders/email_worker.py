#!/usr/bin/env python3
"""Email worker: sends the invoice emails queued on `emails`, at most N per second.

    python3 email_worker.py --server nats://127.0.0.1:4222 --rate 2/1s

The mail provider allows only a few messages per second, so at start the worker sets a rate limit
on the queue through `$DOCKET.API.QUEUE.emails` (header `Docket-Options: rate=2/1s`). The limit is
kept by the server, across all workers: a RESERVE simply waits until the window allows the next
start, so the worker needs no sleeping or counting of its own. Plain nats-py, no Docket library.
"""
import argparse
import asyncio
import json
import os
import signal
import sys

import nats


def emit(line):
    """Writes one whole line at once, so lines of processes sharing a terminal do not mix."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


RESERVE_WAIT_S = 5  # how long the server holds a RESERVE open; the request timeout must be longer


class DocketError(Exception):
    pass


def docket_answer(msg):
    """The JSON answer of an API request; an `{"error":{...}}` answer becomes a DocketError."""
    doc = json.loads(msg.data)
    if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
        raise DocketError(f"{doc['error'].get('code')}: {doc['error'].get('message')}")
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
    docket_answer(msg)
    return None


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("DOCKET_URL", "nats://127.0.0.1:4222"))
    parser.add_argument("--name", default="email")
    parser.add_argument("--rate", default="2/1s", help="the queue's rate limit, n/duration (default 2/1s)")
    args = parser.parse_args()

    def say(text):
        emit(f"{args.name:<10}| {text}")

    async def on_error(error):
        emit(f"{args.name:<10}| connection error: {error!r}")

    nc = await nats.connect(args.server, name=args.name, allow_reconnect=False, error_cb=on_error)
    try:
        await api(nc, "$DOCKET.API.QUEUE.emails", options=f"rate={args.rate}")
        config = (await api(nc, "$DOCKET.API.QUEUE.emails"))["config"]
        say(f"emails queue rate limit set: {config['rate']}; waiting for emails jobs")
        while True:
            job = await reserve(nc, "emails")
            if job is None:
                continue
            job_id, attempt, payload = job
            email = json.loads(payload)
            await asyncio.sleep(0.05)  # "talk to the mail provider"
            try:
                await api(nc, f"$DOCKET.API.ACK.{job_id}", f"sent to {email['to']}")
                say(f"job {job_id} attempt {attempt}: order {email['order']}: "
                    f"'{email['subject']}' sent to {email['to']}")
            except DocketError as error:
                say(f"job {job_id}: the server refused the ACK: {error}")
    except (nats.errors.Error, ConnectionError) as error:
        say(f"stopped: {error!r}")
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
