# --max-queues on the embedded store: a command that would make one queue too
# many answers LIMIT (ENQ, a BATCH as a whole, a waiting RESERVE, settings,
# PAUSE, SCHEDULE, ROUTE) and makes nothing; reads (QUEUE, RESERVE with
# timeout=0, DEAD, LIST) never make one. A queue that is forgotten (no jobs,
# default settings) frees its place. With jobs in PostgreSQL the flag does
# not refuse queues (PROTOCOL.md, Jobs in PostgreSQL).
! docket-only
! store: lmdb
! flags: --max-queues 2
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ a 0
a>
a< +OK 1
a> ENQ b 0
a>
a< +OK 2
a> ENQ c 0
a>
a< -ERR 'LIMIT there are 2 queues already (--max-queues)'
a> QUEUE c
a~ JSON \d+
a~ \{"queue":"c",.*"jobs":\{"waiting":0,.*\}
a> RESERVE c timeout=0
a< NOJOB
a> DEAD c
a< JSON 2
a< []
a> LIST c
a~ JSON \d+
a< {"queue":"c","state":"waiting","jobs":[],"next":null}
a> RESERVE c timeout=10ms
a< -ERR 'LIMIT there are 2 queues already (--max-queues)'
a> QUEUE c concurrency=1
a< -ERR 'LIMIT there are 2 queues already (--max-queues)'
a> PAUSE c
a< -ERR 'LIMIT there are 2 queues already (--max-queues)'
a> SCHEDULE s c every=1h 0
a>
a< -ERR 'LIMIT there are 2 queues already (--max-queues)'
a> ROUTE foo c
a< -ERR 'LIMIT there are 2 queues already (--max-queues)'
a> BATCH 2
a> ENQ a 0
a>
a> ENQ c 0
a>
a~ -ERR 'LIMIT .*--max-queues.*'
a> QUEUES
a~ JSON \d+
a~ \[\{"queue":"a",.*\},\{"queue":"b",.*\}\]
# Queue a's only job goes: a is forgotten, and c may be made.
a> RESERVE a timeout=0
a~ JOB 1 a 1 lease=\d+ delivery=\d+ 0
a<
a> DEL 1
a< +OK
a> ENQ c 0
a>
a< +OK 3
