# ENQ at=<unix seconds>: a time in the past runs now; a time in the future
# keeps the job delayed until then (run_at in unix milliseconds). A past time
# reads back as run_at = the ENQ's time, on both stores (the embedded store
# showed at=1 as run_at 1000). at= takes up to 10 digits.
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
a~ \{(?=.*"state":"waiting")(?=.*"run_at":[1-9][0-9]{11,}[,}]).*\}
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 4
a< past
a> RESERVE q timeout=0
a< NOJOB
a> ENQ q at=9999999999 0
a>
a< +OK 3
a> ENQ q at=10000000000 0
a>
a~ -ERR 'BAD_OPTION at=10000000000: .*'
