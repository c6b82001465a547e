# A job retried from the dead is kept where it finishes next: later deaths
# in the dead history do not delete it, nor its key.
! docket-only
! flags: --keep-dead 1
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q key=order-1 1
a> a
a< +OK 1
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< a
a> FAIL 1 retry=no
a< +OK dead
a> RETRY 1
a< +OK
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< a
a> ACK 1
a< +OK
a> ENQ q 1
a> b
a< +OK 2
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 1
a< b
a> FAIL 2 retry=no
a< +OK dead
a> INSPECT 1
a~ JSON \d+
a~ \{.*"state":"completed".*\}
a> ENQ q key=order-1 1
a> a
a< +OK 1 duplicate
