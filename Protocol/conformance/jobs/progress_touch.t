# PROGRESS <id> <0-100> [note] and TOUCH <id> answer +OK for an active job
# the connection holds; PROGRESS records the percentage and note (INSPECT
# shows them). Another connection gets NOT_HELD; a percentage above 100 is
# BAD_OPTION.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q 1
a> x
a< +OK 1
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a> TOUCH 1
a< +OK
a> PROGRESS 1 0
a< +OK
a> PROGRESS 1 50 4
a> half
a< +OK
a> INSPECT 1
a~ JSON \d+
a~ \{(?=.*"state":"active")(?=.*"progress":50[,}])(?=.*"progress_note":"half").*\}
a> PROGRESS 1 101
a~ -ERR 'BAD_OPTION .*'
a> PROGRESS 1 100
a< +OK
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> TOUCH 1
b~ -ERR 'NOT_HELD .*'
b> PROGRESS 1 60
b~ -ERR 'NOT_HELD .*'
b> PROGRESS 1 60 4
b> note
b~ -ERR 'NOT_HELD .*'
b> PING
b< PONG
a> ACK 1
a< +OK
# once completed, nobody holds it
a> TOUCH 1
a~ -ERR 'NOT_HELD .*'
a> PROGRESS 1 100
a~ -ERR 'NOT_HELD .*'
