# Reserved subjects ($...) are never routed, even by a pattern such as >
# that would match them: a client publishing on $JOB.... makes no job.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ROUTE > all
a< +OK 1
a> PUB $JOB.qa.completed 8
a> {"id":1}
a> PUB $DOCKET.other 1
a> x
a> PUB plain 1
a> y
a> PING
a< PONG
a> RESERVE all timeout=0
a~ JOB \d+ all 1 lease=\d+ delivery=\d+ 1
a< y
a> RESERVE all timeout=0
a< NOJOB
