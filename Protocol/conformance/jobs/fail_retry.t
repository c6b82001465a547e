# FAIL retry=<duration> ends the attempt and runs the job again after that
# delay: +OK retry <delay-ms>. Meanwhile the job is delayed; then it is
# reserved again with attempt 2. retry=0 makes it available at once.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q 1
a> x
a< +OK 1
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a> FAIL 1 retry=200ms 4
a> oops
a< +OK retry 200
a> INSPECT 1
a~ JSON \d+
a~ \{(?=.*"state":"delayed")(?=.*"attempts":1[,}])(?=.*"last_error":"oops").*\}
a> RESERVE q timeout=0
a< NOJOB
a> RESERVE q timeout=5s
a~ JOB 1 q 2 lease=\d+ delivery=\d+ 1
a< x
a> FAIL 1 retry=0
a< +OK retry 0
a> RESERVE q timeout=5s
a~ JOB 1 q 3 lease=\d+ delivery=\d+ 1
a< x
a> ACK 1
a< +OK
