#!/usr/bin/env python3
"""The long form of Tests/torture: rounds of a mixed concurrent load on docketd, each ended by
SIGKILL at a random moment, docketd started again on the same data and every promise checked
(see Tests/torture/torture.py for the load and the checks).

    python3 scripts/torture.py --docketd .build-rel/release/docketd --rounds 50 --seconds 5 --seed 7
    python3 scripts/torture.py --docketd … --sync none          # the embedded store without fsync
    python3 scripts/torture.py --docketd … --at-checkpoints     # each kill inside a write of data.mdb
    scripts/with-postgres.sh python3 scripts/torture.py --docketd … --postgres
    python3 scripts/torture.py --docketd … --cluster --seconds 8  # three nodes (Tests/cluster)

With --cluster, the long form of Tests/cluster instead: three docketd nodes on one PostgreSQL (a
private cluster it starts), linked by routes and by nats-servers in turn, each round struck by a
node killed or paused, a nats-server killed or PostgreSQL restarted (see
Tests/cluster/cluster_torture.py). Needs nats-server and PostgreSQL's server programs.

Exit status 1 on the first round that breaks a promise (its data directory, or with --cluster
the nodes' logs and the clients' history, is kept and named).
"""
import argparse
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "torture"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "cluster"))
import torture  # noqa: E402
import cluster_torture  # noqa: E402
from parity import Postgres  # noqa: E402  (torture puts Tests/parity on the path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docketd", required=True, help="the docketd binary to torture")
    parser.add_argument("--rounds", type=int, default=20, help="rounds of load, each ended by SIGKILL (default 20)")
    parser.add_argument("--seconds", type=float, default=4.0, help="longest load of a round before the kill (default 4)")
    parser.add_argument("--seed", type=int, default=int(time.time()), help="seed of everything random (default: the time)")
    parser.add_argument("--sync", choices=["always", "none"], default="always", help="the embedded store's --sync")
    parser.add_argument("--at-checkpoints", action="store_true",
                        help="kill at the first write or flush of data.mdb after the random moment, "
                             "a checkpoint's under either --sync (Linux /proc; the embedded store only)")
    parser.add_argument("--postgres", action="store_true",
                        help="keep the jobs in a new database of DOCKET_TEST_POSTGRES (scripts/with-postgres.sh sets it)")
    parser.add_argument("--cluster", action="store_true",
                        help="three nodes on one PostgreSQL, with node, nats-server and PostgreSQL faults (Tests/cluster)")
    args = parser.parse_args()
    # A `timeout` around the run ends it with SIGTERM: docketd is then killed too, not left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    store_url = None
    if args.postgres:
        postgres = Postgres(os.environ["DOCKET_TEST_POSTGRES"])
        store_url = postgres.url_for(postgres.new_database())
    print("seed %d, %d rounds of up to %.1f s, %s" % (args.seed, args.rounds, args.seconds,
                                                       "three nodes" if args.cluster else "PostgreSQL" if store_url
                                                       else "LMDB --sync " + args.sync), flush=True)
    flags = [] if store_url else ["--sync", args.sync]
    say = lambda line: print(line, flush=True)  # noqa: E731
    try:
        if args.cluster:
            figures = cluster_torture.run(args.docketd, args.rounds, args.seconds, args.seed, say=say)
        else:
            figures = torture.run(args.docketd, args.rounds, args.seconds, args.seed, flags, store_url, say=say,
                                  at_checkpoints=args.at_checkpoints)
    except torture.Violation as violation:
        print("VIOLATION: %s" % violation, flush=True)
        return 1
    print("passed: %s" % figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
