# WAIT on a job that dies answers with its last error.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q attempts=1 1
a> x
a< +OK 1
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> WAIT 1
a> RESERVE q
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a> FAIL 1 4
a> oops
a< +OK dead
b< OUTCOME 1 dead 4
b< oops
