# A worker that closes its connection while waiting in RESERVE is no longer
# waiting: a job enqueued afterwards goes to the next waiting worker, as a
# first attempt (it was never given to the closed connection).
! docket-only
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> RESERVE q
b! close
c~ INFO \{.*\} ?
c> CONNECT {"verbose":false,"pedantic":false}
c> RESERVE q timeout=5s
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> RESERVE other timeout=100ms
a< NOJOB
a> ENQ q 3
a> job
a< +OK 1
c~ JOB 1 q 1 lease=\d+ delivery=\d+ 3
c< job
