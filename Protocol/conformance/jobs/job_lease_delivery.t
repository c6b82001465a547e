# JOB names the job's lease in milliseconds (so a worker can time its
# heartbeats without another round trip) and a delivery id: a number for this
# one hand-out, unique for the data directory's whole life (crashes included),
# so a handler can make its side effects idempotent per run.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q 1
a> x
a< +OK 1
a> ENQ q lease=5s 1
a> y
a< +OK 2
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=30000 delivery=(?!0 )\d+ 1
a! body
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=5000 delivery=(?!0 )\d+ 1
a! body
