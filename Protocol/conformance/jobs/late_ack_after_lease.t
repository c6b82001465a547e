# An ACK that comes after the lease ran out (the job went back, to its backoff here) changes
# nothing and says why it may be refused: the lease ended. The attempt counts as stalled.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q lease=100ms backoff=fixed:1h 1
a> x
a< +OK 1
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=100 delivery=\d+ 1
a< x
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> RESERVE nothing timeout=300ms
b< NOJOB
a> ACK 1
a< -ERR 'NOT_HELD job 1 is not active under a lease this connection holds (its lease ended, or it was finished or never reserved here)'
a> TOUCH 1 attempt=1
a< -ERR 'NOT_HELD job 1 is not active under a lease this connection holds (its lease ended, or it was finished or never reserved here)'
a> INSPECT 1
a~ JSON \d+
a~ \{(?=.*"state":"delayed")(?=.*"attempts":1[,}])(?=.*"last_error":"stalled: lease of 100 ms expired").*\}
