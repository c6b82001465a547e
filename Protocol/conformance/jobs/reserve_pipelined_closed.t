# A worker that closes its connection while several pipelined RESERVEs wait
# there is no longer waiting with any of them: the jobs enqueued afterwards go
# to the next waiting worker, each as a first attempt.
! docket-only
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b>> RESERVE q timeout=5s\r\nRESERVE q timeout=5s\r\nRESERVE q timeout=5s\r\n
b! close
c~ INFO \{.*\} ?
c> CONNECT {"verbose":false,"pedantic":false}
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> RESERVE other timeout=100ms
a< NOJOB
a>> ENQ q 1\r\nx\r\nENQ q 1\r\ny\r\nENQ q 1\r\nz\r\n
a< +OK 1
a< +OK 2
a< +OK 3
c>> RESERVE q timeout=5s\r\nRESERVE q timeout=5s\r\nRESERVE q timeout=5s\r\n
c~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
c< x
c~ JOB 2 q 1 lease=\d+ delivery=\d+ 1
c< y
c~ JOB 3 q 1 lease=\d+ delivery=\d+ 1
c< z
