# A queue name is 1 to 128 bytes of A-Z a-z 0-9 _ -; anything else is
# BAD_QUEUE, on ENQ, RESERVE (each listed name), DEAD and RETRY queue=.
# ENQ's payload is still read, and the connection stays usable.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ a.b 2
a> hi
a~ -ERR 'BAD_QUEUE .*'
a> ENQ a* 2
a> hi
a~ -ERR 'BAD_QUEUE .*'
a> ENQ caf\xc3\xa9 2
a> hi
a~ -ERR 'BAD_QUEUE .*'
a> ENQ qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq 2
a> hi
a~ -ERR 'BAD_QUEUE .*'
a> PING
a< PONG
a> RESERVE a.b timeout=0
a~ -ERR 'BAD_QUEUE .*'
a> RESERVE good,a.b timeout=0
a~ -ERR 'BAD_QUEUE .*'
a> RESERVE good,,other timeout=0
a~ -ERR 'BAD_QUEUE .*'
a> RESERVE good, timeout=0
a~ -ERR 'BAD_QUEUE .*'
a> RESERVE qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq timeout=0
a~ -ERR 'BAD_QUEUE .*'
a> DEAD a.b
a~ -ERR 'BAD_QUEUE .*'
a> RETRY queue=a.b
a~ -ERR 'BAD_QUEUE .*'
# the valid extremes
a> ENQ Az09_- 2
a> hi
a< +OK 1
a> ENQ qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq 2
a> hi
a< +OK 2
a> RESERVE qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq,Az09_- timeout=0
a~ JOB 2 qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq 1 lease=\d+ delivery=\d+ 2
a< hi
a> RESERVE qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq,Az09_- timeout=0
a~ JOB 1 Az09_- 1 lease=\d+ delivery=\d+ 2
a< hi
