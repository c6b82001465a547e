# A death spreads one generation at a time: a child two of whose parents die in the same
# generation dies once, naming the oldest of them (whatever the order of its after=); one under
# on_parent_dead=run counts both off at once and runs. The events come released first, then
# the dead, each oldest first.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
e~ INFO \{.*\} ?
e> CONNECT {"verbose":false,"pedantic":false}
a> ENQ p attempts=1 1
a> a
a< +OK 1
a> ENQ m after=1 1
a> b
a< +OK 2
a> ENQ m after=1 1
a> c
a< +OK 3
a> ENQ leaf after=3,2 1
a> d
a< +OK 4
a> ENQ leaf after=3,2 on_parent_dead=run 1
a> e
a< +OK 5
e> SUB $JOB.*.dead 1
e> SUB $JOB.*.unblocked 2
e> PING
e< PONG
a> RESERVE p timeout=0
a~ JOB 1 p 1 lease=\d+ delivery=\d+ 1
a< a
a> FAIL 1 retry=no
a< +OK dead
a> INSPECT 4
a~ JSON \d+
a~ \{"id":4,.*"state":"dead",.*"last_error":"parent 2 dead",.*\}
a> INSPECT 5
a~ JSON \d+
a~ \{"id":5,.*"state":"waiting",.*\}
e~ MSG \$JOB\.p\.dead 1 \d+
e~ \{.*"id":1,.*\}
e~ MSG \$JOB\.m\.dead 1 \d+
e~ \{.*"id":2,.*"error":"parent 1 dead".*\}
e~ MSG \$JOB\.m\.dead 1 \d+
e~ \{.*"id":3,.*"error":"parent 1 dead".*\}
e~ MSG \$JOB\.leaf\.unblocked 2 \d+
e~ \{.*"id":5,.*\}
e~ MSG \$JOB\.leaf\.dead 1 \d+
e~ \{.*"id":4,.*"error":"parent 2 dead".*\}
