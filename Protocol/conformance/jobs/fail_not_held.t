# FAIL of a job this connection does not hold is NOT_HELD (held by another
# connection, waiting, or dead already); the payload is still read, and the
# job is unchanged.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q 1
a> x
a< +OK 1
a> ENQ q 1
a> y
a< +OK 2
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> FAIL 1 retry=no
b~ -ERR 'NOT_HELD .*'
b> FAIL 1 4
b> oops
b~ -ERR 'NOT_HELD .*'
b> FAIL 2
b~ -ERR 'NOT_HELD .*'
b> PING
b< PONG
a> INSPECT 1
a~ JSON \d+
a~ \{(?=.*"state":"active")(?=.*"attempts":1[,}]).*\}
a> FAIL 1 retry=no
a< +OK dead
a> FAIL 1 retry=no
a~ -ERR 'NOT_HELD .*'
