# A dead job brought back by RETRY is served to a worker already waiting
# on its queue, with attempt 1 (its attempts were reset).
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q 1
a> x
a< +OK 1
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a> FAIL 1 retry=no
a< +OK dead
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> RESERVE q
a> RESERVE other timeout=100ms
a< NOJOB
a> RETRY 1
a< +OK
b~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
b< x
