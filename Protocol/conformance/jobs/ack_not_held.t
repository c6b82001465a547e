# ACK of a job this connection does not hold is NOT_HELD: held by another
# connection, never reserved, or already completed. Job errors never close
# the connection, and the holder can still ACK.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q 1
a> x
a< +OK 1
a> ENQ q 1
a> y
a< +OK 2
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> ACK 1
b~ -ERR 'NOT_HELD .*'
# job 2 is waiting: nobody holds it
b> ACK 2
b~ -ERR 'NOT_HELD .*'
b> ACK 1 3
b> res
b~ -ERR 'NOT_HELD .*'
b> PING
b< PONG
a> ACK 1
a< +OK
# a second ACK: the job is no longer active
a> ACK 1
a~ -ERR 'NOT_HELD .*'
a> INSPECT 2
a~ JSON \d+
a~ \{.*"state":"waiting".*\}
