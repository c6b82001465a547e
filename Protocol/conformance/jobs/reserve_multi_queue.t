# RESERVE a,b tries the listed queues in order: it takes from the first
# listed queue that has a job, even if a later one holds a job of lower
# priority value.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ low pri=-5 1
a> L
a< +OK 1
a> ENQ high 1
a> H
a< +OK 2
a> RESERVE high,low timeout=0
a~ JOB 2 high 1 lease=\d+ delivery=\d+ 1
a< H
a> RESERVE high,low timeout=0
a~ JOB 1 low 1 lease=\d+ delivery=\d+ 1
a< L
a> RESERVE high,low timeout=0
a< NOJOB
a> PING
a< PONG
