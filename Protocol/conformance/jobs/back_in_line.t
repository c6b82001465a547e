# A job that goes back in line (FAIL with a retry, a worker lost or a lease ended, RETRY of a
# dead job, a child released by its parents, PROMOTE) waits behind the jobs already waiting at
# its priority, even those that became runnable in the same millisecond, and LIST shows it
# there. A job throttled (FAIL throttle=) was not at fault: it keeps its place.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q backoff=fixed:0 1
a> a
a< +OK 1
a> ENQ q 1
a> b
a< +OK 2
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< a
a> FAIL 1
a< +OK retry 0
a> LIST q
a~ JSON \d+
a~ \{"queue":"q","state":"waiting","jobs":\[\{"id":2,.*\},\{"id":1,.*\}\],"next":null\}
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 1
a< b
a> RESERVE q timeout=0
a~ JOB 1 q 2 lease=\d+ delivery=\d+ 1
a< a
a> ACK 1
a< +OK
a> ACK 2
a< +OK
a> ENQ t group=g 1
a> c
a< +OK 3
a> ENQ t 1
a> d
a< +OK 4
a> RESERVE t timeout=0
a~ JOB 3 t 1 lease=\d+ delivery=\d+ 1
a< c
a> FAIL 3 throttle=1h scope=group
a~ \+OK throttled \d+
a> LIST t
a~ JSON \d+
a~ \{"queue":"t","state":"waiting","jobs":\[\{"id":3,.*\},\{"id":4,.*\}\],"next":null\}
a> RESERVE t timeout=0
a~ JOB 4 t 1 lease=\d+ delivery=\d+ 1
a< d
a> PING
a< PONG
