# WAIT on a job that dies answers with its last error (null without one).
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q attempts=1 1
a> x
a< +OK 1
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> WAIT 1
a> RESERVE q
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a> FAIL 1 4
a> oops
a< +OK dead
b< OUTCOME 1 dead 4
b< oops
# Through $DOCKET.API: state dead, result null, the last error.
a> SUB _INBOX.r 1
a> PUB $DOCKET.API.WAIT.1 _INBOX.r 0
a>
a~ MSG _INBOX.r 1 \d+
a< {"id":1,"state":"dead","result":null,"error":"oops"}
# A job dead without a reason has error null.
a> ENQ q 0
a>
a< +OK 2
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 2 retry=no
a< +OK dead
a> PUB $DOCKET.API.WAIT.2 _INBOX.r 0
a>
a~ MSG _INBOX.r 1 \d+
a< {"id":2,"state":"dead","result":null,"error":null}
