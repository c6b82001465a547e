# ENQ ttl=<duration> (or expires=<unix ms>): a job not started by then is not run; it becomes
# dead with last_error "expired: …", and $JOB.<queue>.expired is published. The ttl leaves a
# loaded machine a second between the ENQ and the INSPECT that must still see it waiting.
! docket-only
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> SUB $JOB.q.expired 1
b> PING
b< PONG
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q ttl=1s 1
a> x
a< +OK 1
a> ENQ q 1
a> y
a< +OK 2
a> INSPECT 1
a~ JSON \d+
a~ \{"id":1,.*"state":"waiting",.*"expires_at":\d+\}
a> RESERVE elsewhere timeout=1300ms
a< NOJOB
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 1
a< y
a> INSPECT 1
a~ JSON \d+
a~ \{"id":1,.*"state":"dead",.*"last_error":"expired: not started by \d+ \(unix ms\)",.*\}
b~ MSG \$JOB\.q\.expired 1 \d+
b~ \{"seq":\d+,"event":"expired","id":1,"queue":"q","attempt":0,.*"state":"dead",.*"error":"expired: .*"\}
# An expiry already past: the job never starts, and WAIT hears it is dead.
a> ENQ q expires=1000 1
a> z
a< +OK 3
a> RESERVE q timeout=0
a< NOJOB
a> WAIT 3 timeout=2s
a~ OUTCOME 3 dead \d+
a~ expired: not started by 1000 \(unix ms\)
# A real time has 13 digits: expires= takes up to 15.
a> ENQ q expires=4102444800000 1
a> z
a< +OK 4
a> INSPECT 4
a~ JSON \d+
a~ \{"id":4,.*"state":"waiting",.*"expires_at":4102444800000\}
a> ENQ q expires=1234567890123456 1
a> z
a~ -ERR 'BAD_OPTION expires=1234567890123456: .*'
a> ENQ q ttl=1s expires=5 1
a> z
a~ -ERR 'BAD_OPTION expires=5: .*'
a> ENQ q ttl=0s 1
a> z
a~ -ERR 'BAD_OPTION ttl=0s: .*'
a> ROUTE a.b q expires=5
a~ -ERR 'BAD_OPTION a route cannot fix key=, at= or expires=.*'
a> PING
a< PONG
