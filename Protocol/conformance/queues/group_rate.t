# With group_rate=1/1h, each group starts one job; another group's job is not held up
# behind the first group's second job.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> QUEUE send group_rate=1/1h
a< +OK
a> ENQ send group=acme 2
a> a1
a< +OK 1
a> ENQ send group=acme 2
a> a2
a< +OK 2
a> ENQ send group=zeta 2
a> z1
a< +OK 3
a> RESERVE send timeout=0
a~ JOB 1 send 1 lease=\d+ delivery=\d+ 2
a< a1
a> RESERVE send timeout=0
a~ JOB 3 send 1 lease=\d+ delivery=\d+ 2
a< z1
a> RESERVE send timeout=0
a< NOJOB
