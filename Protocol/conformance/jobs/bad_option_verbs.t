# BAD_OPTION on the other verbs: RESERVE (and WAIT) with an unknown, repeated
# or unreadable option, each saying which rule it broke, FAIL with a bad retry=, an unknown or a repeated
# option, RETRY queue= with another option (DEAD: bad_option_dead.t).
# A FAIL refused this way changes nothing: the job is still held and can
# be ACKed.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> RESERVE q wait=1s
a< -ERR 'BAD_OPTION wait=1s: RESERVE takes only timeout=<duration>'
a> RESERVE q timeout=forever
a< -ERR 'BAD_OPTION timeout=forever: timeout must be a duration: up to 12 digits and a unit (ms, s, m, h or d; none is seconds), like 250ms or 5s'
a> RESERVE q timeout=9223372036854775807h
a~ -ERR 'BAD_OPTION .*: timeout must be a duration: .*'
a> RESERVE q timeout=0 timeout=0
a< -ERR 'BAD_OPTION timeout=0: timeout is given more than once'
a> WAIT 1 timeout=0 timeout=0
a< -ERR 'BAD_OPTION timeout=0: timeout is given more than once'
a> RETRY queue=q limit=1
a~ -ERR 'BAD_OPTION .*'
a> RETRY queue=q queue=r
a~ -ERR 'BAD_OPTION .*'
a> ENQ q 1
a> x
a< +OK 1
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a> FAIL 1 retry=maybe
a~ -ERR 'BAD_OPTION .*'
a> FAIL 1 delay=1s
a~ -ERR 'BAD_OPTION .*'
a> FAIL 1 retry=1s retry=no
a~ -ERR 'BAD_OPTION .*'
a> FAIL 1 retry=maybe 4
a> oops
a~ -ERR 'BAD_OPTION .*'
a> INSPECT 1
a~ JSON \d+
a~ \{(?=.*"state":"active")(?=.*"attempts":1[,}]).*\}
a> ACK 1
a< +OK
