# TOUCH (and PROGRESS) extend the lease by its full duration: a worker
# that heartbeats every 250ms keeps a job with lease=400ms for longer than
# 400ms, and its ACK still succeeds. b's timed RESERVEs mark the time and
# never receive the job.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q lease=400ms backoff=fixed:0 3
a> job
a< +OK 1
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 3
a< job
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> RESERVE q timeout=250ms
b< NOJOB
a> TOUCH 1
a< +OK
b> RESERVE q timeout=250ms
b< NOJOB
a> PROGRESS 1 50
a< +OK
b> RESERVE q timeout=250ms
b< NOJOB
a> TOUCH 1
a< +OK
a> ACK 1
a< +OK
