# --max-flow-depth: an ENQ whose job would be deeper in its flow than the limit is refused with
# LIMIT (a BATCH as a whole), and the connection goes on. A job's depth is one more than the
# deepest of its parents still unfinished when it is enqueued; a parent that finished counts
# for nothing.
! docket-only
! flags: --max-flow-depth 2
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q 1
a> a
a< +OK 1
a> ENQ q after=1 1
a> b
a< +OK 2
a> ENQ q after=2 1
a> c
a< -ERR 'LIMIT the job would be 3 deep in its flow, and 2 may be (--max-flow-depth)'
a> BATCH 2
a> ENQ r 1
a> x
a> ENQ r after=#1,2 1
a> y
a< -ERR 'LIMIT job 2: the job would be 3 deep in its flow, and 2 may be (--max-flow-depth)'
a> QUEUE r
a~ JSON \d+
a~ \{"queue":"r",.*"jobs":\{"waiting":0,"delayed":0,"active":0,"completed":0,"dead":0,"blocked":0\},.*\}
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< a
a> ACK 1
a< +OK
# Job 2 was enqueued 2 deep, and stays so until it finishes.
a> ENQ q after=2 1
a> c
a< -ERR 'LIMIT the job would be 3 deep in its flow, and 2 may be (--max-flow-depth)'
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 1
a< b
a> ACK 2
a< +OK
a> ENQ q after=2 1
a> c
a~ \+OK \d+
a> PING
a< PONG
