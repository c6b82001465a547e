# ENQ after=<id>[,<id>…]: the job is blocked until every parent completes, then waits like any
# other; PARENTS shows the parents' outcomes; INSPECT lists parents and children.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ fetch 1
a> a
a< +OK 1
a> ENQ fetch 1
a> b
a< +OK 2
a> ENQ report after=1,2 1
a> r
a< +OK 3
a> INSPECT 3
a~ JSON \d+
a~ \{"id":3,"queue":"report","state":"blocked",.*"parents":\[1,2\],"on_parent_dead":"fail"\}
a> INSPECT 1
a~ JSON \d+
a~ \{"id":1,.*"state":"waiting",.*"children":\[3\]\}
a> RESERVE report timeout=0
a< NOJOB
a> LIST report state=blocked
a~ JSON \d+
a~ \{"queue":"report","state":"blocked","jobs":\[\{"id":3,.*\}\],"next":null\}
a> QUEUE report
a~ JSON \d+
a~ \{"queue":"report",.*"jobs":\{"waiting":0,"delayed":0,"active":0,"completed":0,"dead":0,"blocked":1\},.*\}
a> RESERVE fetch timeout=0
a~ JOB 1 fetch 1 lease=\d+ delivery=\d+ 1
a< a
a> ACK 1 5
a> sized
a< +OK
# One parent done, one to go.
a> INSPECT 3
a~ JSON \d+
a~ \{"id":3,.*"state":"blocked",.*\}
a> RESERVE fetch timeout=0
a~ JOB 2 fetch 1 lease=\d+ delivery=\d+ 1
a< b
a> ACK 2
a< +OK
a> RESERVE report timeout=0
a~ JOB 3 report 1 lease=\d+ delivery=\d+ 1
a< r
a> PARENTS 3
a~ JSON \d+
a< [{"id":1,"queue":"fetch","state":"completed","result":"sized","error":null},{"id":2,"queue":"fetch","state":"completed","result":null,"error":null}]
a> PARENTS 1
a~ JSON \d+
a< []
# A parent already completed counts as done: the child waits at once.
a> ENQ report after=1 1
a> s
a< +OK 4
a> INSPECT 4
a~ JSON \d+
a~ \{"id":4,.*"state":"waiting",.*"parents":\[1\],.*\}
# A child's delay= still holds once it is released.
a> ENQ fetch 1
a> c
a< +OK 5
a> ENQ report after=5 delay=1h 1
a> t
a< +OK 6
a> RESERVE fetch timeout=0
a~ JOB 5 fetch 1 lease=\d+ delivery=\d+ 1
a< c
a> ACK 5
a< +OK
a> INSPECT 6
a~ JSON \d+
a~ \{"id":6,.*"state":"delayed",.*\}
a> PING
a< PONG
