# A RESERVE of several queues that waits is served by a job arriving on
# any of them.
! docket-only
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> RESERVE first,second timeout=5s
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> RESERVE other timeout=100ms
a< NOJOB
a> ENQ second 2
a> hi
a< +OK 1
b~ JOB 1 second 1 lease=\d+ delivery=\d+ 2
b< hi
b> ACK 1
b< +OK
