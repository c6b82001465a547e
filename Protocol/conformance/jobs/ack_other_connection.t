# ACK, FAIL, PROGRESS and TOUCH that name the attempt (attempt=<n>) act for
# whichever connection holds the job in that attempt: the attempt is the fence.
# A worker whose commands go through a second connection (or, with several
# nodes, another docketd) can finish the job it was handed. Without attempt=
# only the holder may; a wrong attempt is refused and changes nothing. The
# job's events are published once, as for its holder's commands.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
c~ INFO \{.*\} ?
c> CONNECT {"verbose":false,"pedantic":false}
c> SUB $JOB.q.completed 1
c> SUB $JOB.q.dead 2
c> PING
c< PONG
a> ENQ q 1
a> x
a< +OK 1
a> ENQ q 1
a> y
a< +OK 2
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 1
a< y
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> ACK 1
b~ -ERR 'NOT_HELD .*'
b> ACK 1 attempt=2
b~ -ERR 'NOT_HELD job 1 is on attempt 1, not 2'
b> TOUCH 1 attempt=1
b< +OK
b> PROGRESS 1 50 attempt=1
b< +OK
b> ACK 1 attempt=1 4
b> done
b< +OK
c~ MSG \$JOB\.q\.completed 1 \d+
c~ \{.*"event":"completed","id":1,"queue":"q","attempt":1,.*\}
# The holder's own ACK comes too late: the job is completed.
a> ACK 1 attempt=1
a~ -ERR 'NOT_HELD .*'
a> INSPECT 1
a~ JSON \d+
a~ \{.*"state":"completed".*"result":"done".*\}
b> FAIL 2 attempt=1 retry=no 4
b> gone
b< +OK dead
c~ MSG \$JOB\.q\.dead 2 \d+
c~ \{.*"event":"dead","id":2,"queue":"q","attempt":1,.*\}
# Nothing is left held by a: its closing loses no attempt.
a> PING
a< PONG
c> PING
c< PONG
