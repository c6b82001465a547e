# RETRY queue=<queue> publishes $JOB.<queue>.retried for every job it revives, oldest first,
# as RETRY <id> does for one: on either store.
! docket-only
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false}
b> SUB $JOB.q.retried 1
b> PING
b< PONG
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false}
a> ENQ q attempts=1 1
a> a
a< +OK 1
a> ENQ q attempts=1 1
a> b
a< +OK 2
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< a
a> FAIL 1
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 1
a< b
a> FAIL 2
a< +OK dead
a> RETRY queue=q
a< +OK 2
b~ MSG \$JOB\.q\.retried 1 \d+
b~ \{"seq":\d+,"event":"retried","id":1,"queue":"q","attempt":0,"max_attempts":1,"state":"waiting",.*\}
b~ MSG \$JOB\.q\.retried 1 \d+
b~ \{"seq":\d+,"event":"retried","id":2,"queue":"q","attempt":0,"max_attempts":1,"state":"waiting",.*\}
a> RETRY queue=q
a< +OK 0
b> PING
b< PONG
