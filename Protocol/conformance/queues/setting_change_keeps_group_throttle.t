# A QUEUE setting change leaves a group's throttle and the group's held jobs alone: they start
# once the throttle ends. Removing group_rate lets the jobs it held start at once.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q group=acme 2
a> a1
a< +OK 1
a> ENQ q group=acme 2
a> a2
a< +OK 2
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 2
a< a1
a> FAIL 1 throttle=300ms scope=group
a< +OK throttled 300
a> RESERVE q timeout=0
a< NOJOB
a> QUEUE q concurrency=10
a< +OK
a> RESERVE q timeout=0
a< NOJOB
a> RESERVE q timeout=3s
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 2
a< a1
a> RESERVE q timeout=3s
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 2
a< a2
a> QUEUE g group_rate=1/1h
a< +OK
a> ENQ g group=acme 2
a> g1
a< +OK 3
a> ENQ g group=acme 2
a> g2
a< +OK 4
a> RESERVE g timeout=0
a~ JOB 3 g 1 lease=\d+ delivery=\d+ 2
a< g1
a> RESERVE g timeout=0
a< NOJOB
a> QUEUE g group_rate=none
a< +OK
a> RESERVE g timeout=0
a~ JOB 4 g 1 lease=\d+ delivery=\d+ 2
a< g2
