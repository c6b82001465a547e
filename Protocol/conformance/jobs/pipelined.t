# Job commands written in one go are answered in order, each exactly once,
# interleaved with the replies to other commands.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a>> ENQ q 1\r\na\r\nPING\r\nENQ q pri=-1 1\r\nb\r\nRESERVE q timeout=0\r\nINSPECT 9\r\nACK 2 2\r\nok\r\nRESERVE q\r\nFAIL 1 retry=no\r\nPING\r\n
a< +OK 1
a< PONG
a< +OK 2
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 1
a< b
a~ -ERR 'NOT_FOUND .*'
a< +OK
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< a
a< +OK dead
a< PONG
