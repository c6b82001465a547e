# DEAD lists dead jobs oldest first by their death, and RETRY queue= revives
# them in that order: a job that died, was retried and died again counts by
# its last death, on both stores (the embedded store listed and revived it at
# its first death's place, before jobs that died after that but before it).
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q attempts=1 1
a> a
a< +OK 1
a> ENQ q attempts=1 1
a> b
a< +OK 2
a> ENQ q attempts=1 1
a> c
a< +OK 3
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< a
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 1
a< b
a> RESERVE q timeout=0
a~ JOB 3 q 1 lease=\d+ delivery=\d+ 1
a< c
# They die 2, 3, 1; then 3 is retried and dies again: 2, 1, 3.
a> FAIL 2
a< +OK dead
a> FAIL 3
a< +OK dead
a> FAIL 1
a< +OK dead
a> DEAD q
a~ JSON \d+
a~ \[\{"id":2,.*\},\{"id":3,.*\},\{"id":1,.*\}\]
a> RETRY 3
a< +OK
a> RESERVE q timeout=0
a~ JOB 3 q 1 lease=\d+ delivery=\d+ 1
a< c
a> FAIL 3
a< +OK dead
a> DEAD q
a~ JSON \d+
a~ \[\{"id":2,.*\},\{"id":1,.*\},\{"id":3,.*\}\]
a> DEAD q limit=2
a~ JSON \d+
a~ \[\{"id":2,.*\},\{"id":1,.*\}\]
a> RETRY queue=q
a< +OK 3
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 1
a< b
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< a
a> RESERVE q timeout=0
a~ JOB 3 q 1 lease=\d+ delivery=\d+ 1
a< c
