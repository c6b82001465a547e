# ACK, FAIL, PROGRESS and TOUCH may name the attempt the worker holds
# (attempt=<n>). When the job was handed out again since (its lease ended and
# the same connection got it back, as every $DOCKET.API user does), a command
# for the old attempt is refused with NOT_HELD and changes nothing; the
# current attempt's commands work.
! docket-only
! flags: --ping-interval 1h
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q lease=200ms 1
a> x
a< +OK 1
a> RESERVE q
a~ JOB 1 q 1 lease=200 delivery=\d+ 1
a! body
# The lease runs out; the job is waiting again after a short backoff.
a> RESERVE elsewhere timeout=100ms
a< NOJOB
a> RESERVE q timeout=5s
a~ JOB 1 q 2 lease=200 delivery=\d+ 1
a! body
a> ACK 1 attempt=1
a~ -ERR 'NOT_HELD job 1 is on attempt 2, not 1: .*'
a> TOUCH 1 attempt=1
a~ -ERR 'NOT_HELD job 1 is on attempt 2, not 1: .*'
a> PROGRESS 1 50 attempt=1
a~ -ERR 'NOT_HELD job 1 is on attempt 2, not 1: .*'
a> FAIL 1 attempt=1 retry=no
a~ -ERR 'NOT_HELD job 1 is on attempt 2, not 1: .*'
a> TOUCH 1 attempt=2
a< +OK
a> ACK 1 attempt=2 4
a> done
a< +OK
a> ACK 1 attempt=0
a~ -ERR 'BAD_OPTION attempt=0: .*'
