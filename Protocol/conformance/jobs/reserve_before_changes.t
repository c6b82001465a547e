# A RESERVE acts before the commands sent after it on the same connection: a
# `RESERVE … timeout=0` does not see a job that an ENQ or a FAIL sent right
# behind it (in the same write) makes available.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a>> RESERVE q timeout=0\r\nENQ q 1\r\nx\r\nPING\r\n
a< NOJOB
a< +OK 1
a< PONG
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a>> RESERVE q timeout=0\r\nFAIL 1 retry=0\r\nPING\r\n
a< NOJOB
a~ \+OK.*
a< PONG
a> RESERVE q timeout=0
a~ JOB 1 q 2 lease=\d+ delivery=\d+ 1
a< x
