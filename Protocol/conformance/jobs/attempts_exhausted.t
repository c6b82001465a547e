# No policy lets a job run more than its attempts: with attempts=2, the
# second FAIL answers +OK dead even with retry=<duration>, and the job is
# listed dead. attempts=1 dies on its first FAIL.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q attempts=2 1
a> x
a< +OK 1
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a> FAIL 1 retry=100ms
a< +OK retry 100
a> RESERVE q timeout=5s
a~ JOB 1 q 2 lease=\d+ delivery=\d+ 1
a< x
a> FAIL 1 retry=100ms
a< +OK dead
a> INSPECT 1
a~ JSON \d+
a~ \{(?=.*"state":"dead")(?=.*"attempts":2[,}])(?=.*"max_attempts":2[,}]).*\}
a> ENQ q attempts=1 1
a> y
a< +OK 2
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 1
a< y
a> FAIL 2
a< +OK dead
a> RESERVE q timeout=0
a< NOJOB
