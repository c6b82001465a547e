# DEL <id> forgets a job in any state: +OK, then INSPECT, DEL and the
# holder's ACK answer NOT_FOUND, and a deleted waiting job is not handed
# out.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q 1
a> x
a< +OK 1
a> ENQ q 1
a> y
a< +OK 2
a> DEL 1
a< +OK
a> INSPECT 1
a~ -ERR 'NOT_FOUND .*'
a> DEL 1
a~ -ERR 'NOT_FOUND .*'
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 1
a< y
a> RESERVE q timeout=0
a< NOJOB
# an active job
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> DEL 2
b< +OK
a> ACK 2
a~ -ERR 'NOT_FOUND .*'
# a delayed job and a completed one
a> ENQ q delay=1h 1
a> z
a< +OK 3
a> DEL 3
a< +OK
a> ENQ q 1
a> w
a< +OK 4
a> RESERVE q timeout=0
a~ JOB 4 q 1 lease=\d+ delivery=\d+ 1
a< w
a> ACK 4
a< +OK
a> DEL 4
a< +OK
a> INSPECT 4
a~ -ERR 'NOT_FOUND .*'
