# Every verb that names a job answers NOT_FOUND for an id no job has; a
# payload announced on the line is still read, and the connection stays.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ACK 42
a~ -ERR 'NOT_FOUND .*'
a> ACK 42 3
a> res
a~ -ERR 'NOT_FOUND .*'
a> FAIL 42
a~ -ERR 'NOT_FOUND .*'
a> FAIL 42 retry=no 4
a> oops
a~ -ERR 'NOT_FOUND .*'
a> PROGRESS 42 50
a~ -ERR 'NOT_FOUND .*'
a> TOUCH 42
a~ -ERR 'NOT_FOUND .*'
a> INSPECT 42
a~ -ERR 'NOT_FOUND .*'
a> RETRY 42
a~ -ERR 'NOT_FOUND .*'
a> DEL 42
a~ -ERR 'NOT_FOUND .*'
a> PING
a< PONG
