# When the last parent of a blocked job completes, the job publishes $JOB.<queue>.unblocked;
# a child whose parent dies dies with it and publishes $JOB.<queue>.dead. On either store.
! docket-only
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
a> PING
a< PONG
