# CANCEL, sent right behind a WAIT that waits, ends that wait at once as its
# timeout would: the WAIT is answered PENDING with the job's state, then the
# CANCEL +OK, and the connection reads on (before, the WAIT read the CANCEL
# only after its OUTCOME). It works whether the CANCEL comes in the WAIT's
# read or a later one, and for a WAIT with a timeout still running. A CANCEL
# behind a WAIT that was answered already ends nothing and answers +OK.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> ENQ q 1
b> x
b< +OK 1
a> WAIT 1
a> CANCEL
a< PENDING 1 waiting
a< +OK
a>> WAIT 1 timeout=1m\r\nCANCEL\r\nPING\r\n
a< PENDING 1 waiting
a< +OK
a< PONG
b> RESERVE q timeout=0
b~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
b< x
a>> WAIT 1\r\nCANCEL\r\nWAIT 2 timeout=0\r\nCANCEL\r\n
a< PENDING 1 active
a< +OK
a~ -ERR 'NOT_FOUND .*'
a< +OK
b> ACK 1
b< +OK
a> PING
a< PONG
