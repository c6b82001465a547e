# jitter=<f> spreads each backoff wait randomly by up to that fraction,
# downwards: backoff=fixed:1s jitter=0.5 waits between 500 and 1000 ms.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q backoff=fixed:1s jitter=0.5 1
a> x
a< +OK 1
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a> FAIL 1
a~ \+OK retry ([5-9][0-9][0-9]|1000)
a> PING
a< PONG
