# A worker that neither ACKs, FAILs, PROGRESSes nor TOUCHes within the
# lease loses the job ("stalled"): the attempt counts as failed and follows
# the retry policy, so after lease 100ms + backoff 100ms another worker
# gets it with attempt 2, and the old holder's ACK is NOT_HELD. (The new
# holder's lease is 100ms too, so it ACKs at once.)
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q lease=100ms backoff=fixed:100ms 3
a> job
a< +OK 1
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 3
a< job
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> RESERVE q timeout=5s
b~ JOB 1 q 2 lease=\d+ delivery=\d+ 3
b< job
a> ACK 1
a~ -ERR 'NOT_HELD .*'
b> ACK 1
b< +OK
b> INSPECT 1
b~ JSON \d+
b~ \{(?=.*"state":"completed")(?=.*"attempts":2[,}]).*\}
