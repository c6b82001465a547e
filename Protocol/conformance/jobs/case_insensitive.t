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
