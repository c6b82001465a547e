# A job id that is not a number is BAD_ID, on every verb that takes one; a
# payload announced on the line is still read, and the connection stays.
# So are 0, which no job has, and 20 digits (past u64: at most 19).
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ACK abc
a~ -ERR 'BAD_ID .*'
a> ACK 1x 3
a> res
a~ -ERR 'BAD_ID .*'
a> FAIL abc retry=no
a~ -ERR 'BAD_ID .*'
a> PROGRESS abc 50
a~ -ERR 'BAD_ID .*'
a> TOUCH abc
a~ -ERR 'BAD_ID .*'
a> INSPECT -1
a~ -ERR 'BAD_ID .*'
a> RETRY abc
a~ -ERR 'BAD_ID .*'
a> DEL x1
a~ -ERR 'BAD_ID .*'
a> INSPECT 0
a~ -ERR 'BAD_ID .*'
a> INSPECT 18446744073709551617
a~ -ERR 'BAD_ID .*'
a> ACK 00000000000000000001
a~ -ERR 'BAD_ID .*'
a> PING
a< PONG
