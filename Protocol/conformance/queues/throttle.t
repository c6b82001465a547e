# FAIL with throttle= returns the job without using an attempt and holds the queue.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ api attempts=1 3
a> req
a< +OK 1
a> RESERVE api timeout=0
a~ JOB 1 api 1 lease=\d+ delivery=\d+ 3
a< req
a> FAIL 1 throttle=300ms 3
a> 429
a< +OK throttled 300
a> RESERVE api timeout=0
a< NOJOB
a> RESERVE api timeout=5s
a~ JOB 1 api 1 lease=\d+ delivery=\d+ 3
a< req
a> FAIL 1 throttle=1s scope=group
a~ -ERR 'BAD_OPTION .*'
a> FAIL 1 throttle=1s retry=no
a~ -ERR 'BAD_OPTION .*'
a> ACK 1
a< +OK
