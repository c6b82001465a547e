# RETRY queue=<queue> makes every dead job of that queue run again and
# answers +OK <count>; +OK 0 when it has none. Other queues are untouched.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> RETRY queue=q
a< +OK 0
a> ENQ q 1
a> a
a< +OK 1
a> ENQ q 1
a> b
a< +OK 2
a> ENQ other 1
a> c
a< +OK 3
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< a
a> FAIL 1 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 1
a< b
a> FAIL 2 retry=no
a< +OK dead
a> RESERVE other timeout=0
a~ JOB 3 other 1 lease=\d+ delivery=\d+ 1
a< c
a> FAIL 3 retry=no
a< +OK dead
a> RETRY queue=q
a< +OK 2
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< a
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 1
a< b
a> RESERVE q,other timeout=0
a< NOJOB
a> DEAD q
a~ JSON \d+
a~ \[\s*\]
a> INSPECT 3
a~ JSON \d+
a~ \{.*"state":"dead".*\}
a> RETRY queue=q
a< +OK 0
