# BATCH <n>: the next n ENQs are enqueued together, all or none, and answered once with every
# id; later ones may wait for earlier ones with after=#<n>.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> BATCH 3
a> ENQ resize 7
a> img-001
a> ENQ resize 7
a> img-002
a> ENQ report after=#1,#2 0
a>
a< +OK 1 2 3
a> INSPECT 3
a~ JSON \d+
a~ \{"id":3,"queue":"report","state":"blocked",.*"parents":\[1,2\],.*\}
# Any bad ENQ refuses the whole batch, naming it; nothing is enqueued.
a> BATCH 3
a> ENQ resize 1
a> x
a> ENQ resize after=999 1
a> y
a> ENQ resize 1
a> z
a< -ERR 'NOT_FOUND job 2: parent job 999 not found'
a> BATCH 2
a> ENQ resize after=#2 1
a> x
a> ENQ resize 1
a> y
a< -ERR 'BAD_OPTION job 1: after=#2 names an ENQ that does not come earlier in the batch'
a> BATCH 2
a> ENQ resize 1
a> x
a> ENQ bad.queue 1
a> y
a~ -ERR 'BAD_QUEUE job 2: .*'
# PING passes through a batch; another command spoils it.
a> BATCH 2
a> ENQ resize 1
a> x
a> PING
a< PONG
a> SUB x 1
a< -ERR 'BAD_OPTION command 2 of the batch is SUB; a BATCH holds only ENQs'
a> QUEUE resize
a~ JSON \d+
a~ \{"queue":"resize",.*"jobs":\{"waiting":2,.*\}
# A key already known gives that job's id.
a> BATCH 2
a> ENQ resize key=k 1
a> x
a> ENQ resize key=k 1
a> x
a< +OK 4 4
# A #n whose ENQ found its key's job names that job.
a> BATCH 2
a> ENQ resize key=k 1
a> x
a> ENQ report after=#1 0
a>
a~ \+OK 4 \d+
a> INSPECT 4
a~ JSON \d+
a~ \{"id":4,.*"children":\[\d+\]\}
a> BATCH 0
a~ -ERR 'Invalid Protocol: BATCH needs a count from 1: .*'
a! eof
