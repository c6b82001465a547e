# FAIL retry=no makes the job dead at once, attempts left or not: +OK dead.
# The reason is kept as its last error, and a dead job is not handed out.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q attempts=5 1
a> x
a< +OK 1
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a> FAIL 1 retry=no 9
a> bad input
a< +OK dead
a> INSPECT 1
a~ JSON \d+
a~ \{(?=.*"state":"dead")(?=.*"attempts":1[,}])(?=.*"max_attempts":5[,}])(?=.*"last_error":"bad input").*\}
a> RESERVE q timeout=0
a< NOJOB
# the job is no longer held
a> ACK 1
a~ -ERR 'NOT_HELD .*'
