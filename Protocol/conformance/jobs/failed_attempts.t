# INSPECT's "failed_attempts" lists the attempts that ended without completing
# the job, oldest first: each with its number, start and end (unix ms) and its
# error: FAIL's reason, or the server's for a lease that ran out ("stalled:
# ..."). The attempt that completed it is not there; a job that never failed
# has an empty list.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q lease=100ms backoff=fixed:0 3
a> job
a< +OK 1
a> INSPECT 1
a~ JSON \d+
a~ \{.*"failed_attempts":\[\].*\}
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 3
a< job
a> FAIL 1 retry=0 4
a> boom
a< +OK retry 0
a> RESERVE q timeout=0
a~ JOB 1 q 2 lease=\d+ delivery=\d+ 3
a< job
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> RESERVE q timeout=5s
b~ JOB 1 q 3 lease=\d+ delivery=\d+ 3
b< job
b> ACK 1
b< +OK
b> INSPECT 1
b~ JSON \d+
b~ \{(?=.*"state":"completed").*"failed_attempts":\[\{"attempt":1,"started_at":[1-9][0-9]{11,},"ended_at":[1-9][0-9]{11,},"error":"boom"\},\{"attempt":2,"started_at":[1-9][0-9]{11,},"ended_at":[1-9][0-9]{11,},"error":"stalled: lease of 100 ms expired"\}\],.*\}
