# --keep-dead and --keep-completed count the jobs still in that state: a dead job retried and
# dead again takes one place, not two, and a deleted job frees its place, so the older job
# stays.
! docket-only
! flags: --keep-completed 2 --keep-dead 2
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ d attempts=1 1
a> x
a< +OK 1
a> ENQ d attempts=1 1
a> y
a< +OK 2
a> RESERVE d timeout=0
a~ JOB 1 d 1 lease=\d+ delivery=\d+ 1
a< x
a> FAIL 1
a< +OK dead
a> RESERVE d timeout=0
a~ JOB 2 d 1 lease=\d+ delivery=\d+ 1
a< y
a> FAIL 2
a< +OK dead
a> RETRY 2
a< +OK
a> RESERVE d timeout=0
a~ JOB 2 d 1 lease=\d+ delivery=\d+ 1
a< y
a> FAIL 2
a< +OK dead
a> INSPECT 1
a~ JSON \d+
a~ \{(?=.*"state":"dead").*\}
a> ENQ c 1
a> 1
a< +OK 3
a> ENQ c 1
a> 2
a< +OK 4
a> ENQ c 1
a> 3
a< +OK 5
a> RESERVE c timeout=0
a~ JOB 3 c 1 lease=\d+ delivery=\d+ 1
a< 1
a> ACK 3
a< +OK
a> RESERVE c timeout=0
a~ JOB 4 c 1 lease=\d+ delivery=\d+ 1
a< 2
a> ACK 4
a< +OK
a> DEL 4
a< +OK
a> RESERVE c timeout=0
a~ JOB 5 c 1 lease=\d+ delivery=\d+ 1
a< 3
a> ACK 5
a< +OK
a> INSPECT 3
a~ JSON \d+
a~ \{(?=.*"state":"completed").*\}
