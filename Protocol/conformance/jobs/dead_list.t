# DEAD <queue> [limit=<n>] answers JSON <#bytes> and the queue's dead jobs,
# oldest first, as an array of job documents; an empty array when there
# are none. Jobs of other queues and jobs not dead are not listed.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> DEAD q
a~ JSON \d+
a~ \[\s*\]
a> ENQ q 1
a> a
a< +OK 1
a> ENQ q 1
a> b
a< +OK 2
a> ENQ q 1
a> c
a< +OK 3
a> ENQ other 1
a> d
a< +OK 4
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< a
a> FAIL 1 retry=no 5
a> first
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 1
a< b
a> FAIL 2 retry=no 6
a> second
a< +OK dead
a> RESERVE other timeout=0
a~ JOB 4 other 1 lease=\d+ delivery=\d+ 1
a< d
a> FAIL 4 retry=no
a< +OK dead
a> DEAD q
a~ JSON \d+
a~ \[\{(?=.*"id":1[,}].*"id":2[,}])(?=.*"last_error":"first".*"last_error":"second")(?:(?!"id":[34][,}]).)*\}\]
a> DEAD q limit=1
a~ JSON \d+
a~ \[\{(?=.*"id":1[,}])(?:(?!"id":[234][,}]).)*\}\]
a> DEAD other
a~ JSON \d+
a~ \[\{(?=.*"id":4[,}])(?:(?!"id":[123][,}]).)*\}\]
