# Job verbs are always answered, exactly once, whatever verbose says: with
# "verbose":false the replies still come; with verbose on (the default
# before CONNECT) ENQ answers its +OK <id> and no extra +OK.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q 1
a> x
a< +OK 1
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a> PROGRESS 1 10
a< +OK
a> TOUCH 1
a< +OK
a> ACK 1
a< +OK
a> DEL 1
a< +OK
a> PING
a< PONG
b~ INFO \{.*\} ?
b> ENQ q 1
b> y
b< +OK 2
b> RESERVE q timeout=0
b~ JOB 2 q 1 lease=\d+ delivery=\d+ 1
b< y
b> TOUCH 2
b< +OK
b> FAIL 2 retry=no
b< +OK dead
b> RETRY 2
b< +OK
b> DEL 2
b< +OK
b> PING
b< PONG
c~ INFO \{.*\} ?
c> CONNECT {"verbose":true,"pedantic":false}
c< +OK
c> ACK 99
c~ -ERR 'NOT_FOUND .*'
c> RESERVE q timeout=0
c< NOJOB
c> PING
c< PONG
