# A job that crashes every worker ends dead instead of looping forever:
# with attempts=2, two workers that close while holding it use up its
# attempts, and it is listed dead.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q attempts=2 backoff=fixed:100ms 3
a> job
a< +OK 1
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 3
a< job
a! close
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> RESERVE q timeout=5s
b~ JOB 1 q 2 lease=\d+ delivery=\d+ 3
b< job
b! close
c~ INFO \{.*\} ?
c> CONNECT {"verbose":false,"pedantic":false}
c> RESERVE q timeout=300ms
c< NOJOB
c> INSPECT 1
c~ JSON \d+
c~ \{(?=.*"state":"dead")(?=.*"attempts":2[,}]).*\}
