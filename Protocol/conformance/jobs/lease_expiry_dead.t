# A lease expiry counts as a failed attempt: a job with attempts=1 whose
# worker stalls ends dead instead of running again.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q attempts=1 lease=100ms 3
a> job
a< +OK 1
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 3
a< job
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> RESERVE q timeout=400ms
b< NOJOB
b> INSPECT 1
b~ JSON \d+
b~ \{(?=.*"state":"dead")(?=.*"attempts":1[,}]).*\}
a> ACK 1
a~ -ERR 'NOT_HELD .*'
