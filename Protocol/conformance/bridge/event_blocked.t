# A job enqueued after= unfinished jobs publishes $JOB.<queue>.blocked with its parents, after
# its enqueued event.
! docket-only
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false}
b> SUB $JOB.c.* 1
b> PING
b< PONG
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false}
a> ENQ p 1
a> x
a< +OK 1
a> ENQ c after=1 1
a> y
a< +OK 2
b~ MSG \$JOB\.c\.enqueued 1 \d+
b~ \{"seq":1,"event":"enqueued","id":2,"queue":"c",.*"state":"blocked",.*\}
b~ MSG \$JOB\.c\.blocked 1 \d+
b~ \{"seq":2,"event":"blocked","id":2,"queue":"c","attempt":0,"max_attempts":3,"state":"blocked","at":\d+,"parents":\[1\]\}
