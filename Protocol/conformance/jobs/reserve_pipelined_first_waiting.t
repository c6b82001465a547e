# A job that comes while pipelined RESERVEs of one connection wait goes to the
# first of them; an ACK sent behind a RESERVE that waits is answered after it.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
a>> RESERVE q timeout=5s\r\nRESERVE q timeout=5s\r\n
b>> ENQ q 1\r\nx\r\n
b< +OK 1
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a>> ACK 1\r\n
b>> ENQ q 1\r\ny\r\n
b< +OK 2
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 1
a< y
a< +OK
a>> ACK 2\r\nPING\r\n
a< +OK
a< PONG
