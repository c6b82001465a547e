# RETRY <id> makes a dead job run again with its attempts reset: +OK, the
# job is waiting, and RESERVE hands it out with attempt 1. RETRY of a job
# that is not dead is NOT_DEAD.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q attempts=1 1
a> x
a< +OK 1
a> RETRY 1
a~ -ERR 'NOT_DEAD .*'
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a> RETRY 1
a~ -ERR 'NOT_DEAD .*'
a> FAIL 1
a< +OK dead
a> RETRY 1
a< +OK
a> INSPECT 1
a~ JSON \d+
a~ \{(?=.*"state":"waiting")(?=.*"attempts":0[,}]).*\}
a> RETRY 1
a~ -ERR 'NOT_DEAD .*'
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a> ACK 1
a< +OK
a> RETRY 1
a~ -ERR 'NOT_DEAD .*'
