# An attempt running when its job's expiry passes runs to its end; failing (or throttled), the
# job does not start again: it becomes dead, expired, at once, whether or not a worker looks
# for it (WAIT hears of it without any RESERVE).
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q ttl=200ms lease=10s backoff=fixed:10ms 1
a> x
a< +OK 1
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> WAIT 1 timeout=300ms
b< PENDING 1 active
a> FAIL 1
a< +OK retry 10
b> WAIT 1 timeout=3s
b~ OUTCOME 1 dead \d+
b~ expired: not started by \d+ \(unix ms\)
a> ENQ t ttl=200ms lease=10s 1
a> y
a< +OK 2
a> RESERVE t timeout=0
a~ JOB 2 t 1 lease=\d+ delivery=\d+ 1
a< y
b> WAIT 2 timeout=300ms
b< PENDING 2 active
a> FAIL 2 throttle=10ms
a< +OK throttled 10
b> WAIT 2 timeout=3s
b~ OUTCOME 2 dead \d+
b~ expired: not started by \d+ \(unix ms\)
