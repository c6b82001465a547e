# ENQ delay=<d>: the job is delayed, not available to RESERVE timeout=0,
# and handed out once its time comes to a RESERVE that waits.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q delay=200ms 5
a> later
a< +OK 1
a> RESERVE q timeout=0
a< NOJOB
a> INSPECT 1
a~ JSON \d+
a~ \{(?=.*"state":"delayed")(?=.*"run_at":\d+[,}]).*\}
a> RESERVE q timeout=5s
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 5
a< later
