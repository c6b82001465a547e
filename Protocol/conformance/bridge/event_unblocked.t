# When the last parent of a blocked job completes, the job publishes $JOB.<queue>.unblocked;
# a child whose parent dies dies with it and publishes $JOB.<queue>.dead; a child whose expiry
# passed while it was blocked publishes $JOB.<queue>.expired. On either store.
! docket-only
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false}
b> SUB $JOB.c.expired 3
b> PING
b< PONG
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false}
a> SUB $JOB.c.unblocked 1
a> SUB $JOB.c.dead 2
a> ENQ p 1
a> x
a< +OK 1
a> ENQ c after=1 1
a> y
a< +OK 2
a> RESERVE p timeout=0
a~ JOB 1 p 1 lease=\d+ delivery=\d+ 1
a< x
a> ACK 1
a< +OK
a~ MSG \$JOB\.c\.unblocked 1 \d+
a~ \{"seq":3,"event":"unblocked","id":2,"queue":"c",.*"state":"waiting",.*\}
a> ENQ p attempts=1 1
a> z
a< +OK 3
a> ENQ c after=3 1
a> w
a< +OK 4
a> RESERVE p timeout=0
a~ JOB 3 p 1 lease=\d+ delivery=\d+ 1
a< z
a> FAIL 3
a< +OK dead
a~ MSG \$JOB\.c\.dead 2 \d+
a~ \{"seq":\d+,"event":"dead","id":4,"queue":"c",.*"state":"dead",.*"error":"parent 3 dead".*\}
a> ENQ p 1
a> e
a< +OK 5
a> ENQ c after=5 ttl=100ms 1
a> f
a< +OK 6
a> RESERVE p timeout=0
a~ JOB 5 p 1 lease=\d+ delivery=\d+ 1
a< e
a> RESERVE elsewhere timeout=400ms
a< NOJOB
a> ACK 5
a< +OK
b~ MSG \$JOB\.c\.expired 3 \d+
b~ \{"seq":\d+,"event":"expired","id":6,"queue":"c",.*"state":"dead",.*"error":"expired: .*"\}
a> PING
a< PONG
