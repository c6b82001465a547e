# While a connection waits in RESERVE, the server does not read its further
# commands: an ENQ pipelined behind a waiting RESERVE on the same
# connection is read only after the RESERVE times out, so it cannot serve
# that RESERVE.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a>> RESERVE q timeout=200ms\r\nENQ q 1\r\nx\r\nRESERVE q timeout=0\r\n
a< NOJOB
a< +OK 1
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
