# A RESERVE without timeout waits until a job is available: b waits, a
# enqueues, and b receives the job (served when it arrives, not by polling).
# b's PING is read only after its RESERVE is answered.
! docket-only
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> RESERVE work
b> PING
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
# a waits 100ms on another queue: by then b's RESERVE is surely waiting.
a> RESERVE other timeout=100ms
a< NOJOB
a> ENQ work 3
a> job
a< +OK 1
b~ JOB 1 work 1 lease=\d+ delivery=\d+ 3
b< job
b< PONG
