# A worker that keeps several RESERVEs in flight and acks each job together
# with its next RESERVE: every reply comes in the order of the commands, the
# ACKs sent behind a RESERVE that finds nothing and waits included.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a>> ENQ q 1\r\na\r\nENQ q 1\r\nb\r\nENQ q 1\r\nc\r\n
a< +OK 1
a< +OK 2
a< +OK 3
a>> RESERVE q timeout=5s\r\nRESERVE q timeout=5s\r\nRESERVE q timeout=5s\r\n
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< a
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 1
a< b
a~ JOB 3 q 1 lease=\d+ delivery=\d+ 1
a< c
a>> ACK 1\r\nRESERVE q timeout=300ms\r\nACK 2\r\nRESERVE q timeout=300ms\r\nACK 3\r\nPING\r\n
a< +OK
a< NOJOB
a< +OK
a< NOJOB
a< +OK
a< PONG
a> INSPECT 2
a~ JSON [1-9][0-9]*
a~ \{(?=.*"state":"completed").*\}
