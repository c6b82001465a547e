# WAIT answers PENDING on timeout, OUTCOME once the job completes (with its result), and at
# once for a job that already ended.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q 1
a> x
a< +OK 1
a> WAIT 1 timeout=50ms
a< PENDING 1 waiting
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> WAIT 1 timeout=5s
a> RESERVE q
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a> ACK 1 4
a> done
a< +OK
b< OUTCOME 1 completed 4
b< done
a> WAIT 1
a< OUTCOME 1 completed 4
a< done
a> WAIT 2
a~ -ERR 'NOT_FOUND .*'
a> WAIT x
a~ -ERR 'BAD_ID .*'
