# Op names are case-insensitive from clients, job verbs included; the
# server's replies are upper case.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> enq q 2
a> hi
a< +OK 1
a> Reserve q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 2
a< hi
a> inspect 1
a~ JSON \d+
a~ \{.*"state":"active".*\}
a> ack 1
a< +OK
a> PING
a< PONG
# Option names, units and word values are not: they are lower case, matched
# exactly; only LIST's and PURGE's state= takes a state in any case.
a> ENQ q DELAY=1s 0
a>
a< -ERR 'BAD_OPTION DELAY=1s: unknown option'
a> ENQ q delay=1S 0
a>
a~ -ERR 'BAD_OPTION delay=1S: .*'
a> ENQ q backoff=FIXED:1s 0
a>
a~ -ERR 'BAD_OPTION backoff=FIXED:1s: .*'
a> RESERVE q TIMEOUT=0
a~ -ERR 'BAD_OPTION TIMEOUT=0: .*'
a> QUEUE q rate=NONE
a~ -ERR 'BAD_OPTION rate=NONE: .*'
a> LIST q STATE=dead
a~ -ERR 'BAD_OPTION STATE=dead: .*'
a> LIST q state=COMPLETED
a~ JSON \d+
a~ \{"queue":"q","state":"completed","jobs":\[\{"id":1,.*\}\],"next":null\}
a> PURGE q state=Completed
a< +OK 1
