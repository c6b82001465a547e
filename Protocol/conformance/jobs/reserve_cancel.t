# CANCEL, sent right behind a RESERVE that waits, ends that wait at once: the
# RESERVE is answered NOJOB, then the CANCEL +OK, and the connection reads on.
# No job was handed out for it: the job enqueued afterwards is still on its
# first attempt. It works whether the CANCEL comes in the RESERVE's read or a
# later one, and for a RESERVE with a timeout still running. A CANCEL that
# does not come right behind a waiting RESERVE ends nothing and answers +OK
# (the RESERVE before the PING below times out as usual); one with arguments
# is refused.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
a> RESERVE q
a> CANCEL
a< NOJOB
a< +OK
a>> RESERVE q,other\r\nCANCEL\r\n
a< NOJOB
a< +OK
a>> RESERVE q timeout=1m\r\nCANCEL\r\nPING\r\n
a< NOJOB
a< +OK
a< PONG
b> ENQ q 1
b> x
b< +OK 1
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a> CANCEL
a< +OK
a>> RESERVE q timeout=200ms\r\nPING\r\nCANCEL\r\n
a< NOJOB
a< PONG
a< +OK
a> CANCEL now
a~ -ERR 'BAD_OPTION now: CANCEL takes no arguments'
a> PING
a< PONG
