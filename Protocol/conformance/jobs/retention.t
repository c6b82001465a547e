# Completed and dead jobs are kept per queue up to --keep-completed and
# --keep-dead; the oldest beyond that are deleted (INSPECT: NOT_FOUND), and
# with them their idempotency keys. Other queues keep their own.
! docket-only
! flags: --keep-completed 1 --keep-dead 1
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ d 1
a> x
a< +OK 1
a> ENQ d 1
a> y
a< +OK 2
a> ENQ q key=k1 1
a> a
a< +OK 3
a> ENQ q 1
a> b
a< +OK 4
a> ENQ other 1
a> c
a< +OK 5
# dead jobs: the second death deletes the first
a> RESERVE d timeout=0
a~ JOB 1 d 1 lease=\d+ delivery=\d+ 1
a< x
a> FAIL 1 retry=no
a< +OK dead
a> RESERVE d timeout=0
a~ JOB 2 d 1 lease=\d+ delivery=\d+ 1
a< y
a> FAIL 2 retry=no
a< +OK dead
a> INSPECT 1
a~ -ERR 'NOT_FOUND .*'
a> DEAD d
a~ JSON \d+
a~ \[\{(?=.*"id":2[,}])(?:(?!"id":1[,}]).)*\}\]
# completed jobs, per queue
a> RESERVE other timeout=0
a~ JOB 5 other 1 lease=\d+ delivery=\d+ 1
a< c
a> ACK 5
a< +OK
a> RESERVE q timeout=0
a~ JOB 3 q 1 lease=\d+ delivery=\d+ 1
a< a
a> ACK 3
a< +OK
a> ENQ q key=k1 1
a> a
a< +OK 3 duplicate
a> RESERVE q timeout=0
a~ JOB 4 q 1 lease=\d+ delivery=\d+ 1
a< b
a> ACK 4
a< +OK
a> INSPECT 3
a~ -ERR 'NOT_FOUND .*'
a> INSPECT 4
a~ JSON \d+
a~ \{.*"state":"completed".*\}
a> INSPECT 5
a~ JSON \d+
a~ \{.*"state":"completed".*\}
# the key went with its job
a> ENQ q key=k1 1
a> a
a~ \+OK \d+
a> RESERVE q timeout=0
a~ JOB \d+ q 1 lease=\d+ delivery=\d+ 1
a< a
