# ENQ at=<unix seconds>: a time in the past runs now; a time in the future
# keeps the job delayed until then (run_at in unix milliseconds).
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q at=4000000000 6
a> future
a< +OK 1
a> ENQ q at=1 4
a> past
a< +OK 2
a> INSPECT 1
a~ JSON \d+
a~ \{(?=.*"state":"delayed")(?=.*"run_at":4000000000000[,}]).*\}
a> INSPECT 2
a~ JSON \d+
a~ \{.*"state":"waiting".*\}
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 4
a< past
a> RESERVE q timeout=0
a< NOJOB
