# When the last parent of a blocked job completes, the job publishes $JOB.<queue>.unblocked.
# On PostgreSQL the release happens inside the parent's transaction and publishes nothing
# (PROTOCOL.md, "Jobs in PostgreSQL").
! docket-only
! store: lmdb
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false}
a> SUB $JOB.c.unblocked 1
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
