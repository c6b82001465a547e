#!/usr/bin/env python3
"""The shop: publishes `orders.created` events, one per order, with plain nats-py.

    python3 shop.py --server nats://127.0.0.1:4222 --orders 10          # fire and forget
    python3 shop.py --server nats://127.0.0.1:4222 --orders 10 --reply  # wait for the job ids

The shop knows nothing about jobs. A route on the server (see route.py) turns every
`orders.created` message into an `invoices` job whose payload is the message. Published with a
reply subject (--reply), the server answers `{"jobs":[<id>]}` on it once the job is on disk, so the
shop can tell the customer "your order is in" knowing it will not be lost.
"""
import argparse
import asyncio
import json
import os
import random
import sys

import nats


def emit(line):
    """Writes one whole line at once, so lines of processes sharing a terminal do not mix."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


CUSTOMERS = [
    ("Ada Lovelace", "ada@example.com"),
    ("Grace Hopper", "grace@example.com"),
    ("Alan Turing", "alan@example.com"),
    ("Edsger Dijkstra", "edsger@example.com"),
    ("Barbara Liskov", "barbara@example.com"),
    ("Ken Thompson", "ken@example.com"),
    ("Margaret Hamilton", "margaret@example.com"),
]


def say(text):
    emit(f"shop      | {text}")


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("DOCKET_URL", "nats://127.0.0.1:4222"))
    parser.add_argument("--orders", type=int, default=10, help="how many orders (default 10)")
    parser.add_argument("--first-id", type=int, default=1, help="id of the first order (default 1)")
    parser.add_argument("--reply", action="store_true",
                        help="publish with a reply subject and print the invoice job id that comes back")
    parser.add_argument("--seed", type=int, default=None, help="random seed for customers and amounts")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    nc = await nats.connect(args.server, name="shop")
    try:
        for order_id in range(args.first_id, args.first_id + args.orders):
            name, email = rng.choice(CUSTOMERS)
            order = {
                "id": order_id,
                "customer": {"name": name, "email": email},
                "amount": round(rng.uniform(9.5, 480.0), 2),
                "currency": "EUR",
            }
            body = json.dumps(order).encode()
            what = f"order {order_id}: {name}, {order['amount']:.2f} EUR"
            if args.reply:
                # The reply comes from the server, not from a subscriber: the route answers it
                # with the ids of the jobs it created, after they are durable.
                reply = await nc.request("orders.created", body, timeout=5)
                jobs = json.loads(reply.data)["jobs"]
                say(f"{what} -> published; invoice job {', '.join(map(str, jobs))} is on disk")
            else:
                await nc.publish("orders.created", body)
                say(f"{what} -> published on orders.created")
        await nc.flush()
    finally:
        await nc.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
