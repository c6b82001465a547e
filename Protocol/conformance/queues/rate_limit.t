# A queue limited to 2 starts per 300 ms hands out two jobs, then none until the window
# slides; a worker waiting in RESERVE gets the third job as soon as the window allows.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> QUEUE mail rate=2/300ms
a< +OK
a> ENQ mail 1
a> 1
a< +OK 1
a> ENQ mail 1
a> 2
a< +OK 2
a> ENQ mail 1
a> 3
a< +OK 3
a> RESERVE mail timeout=0
a~ JOB 1 mail 1 lease=\d+ delivery=\d+ 1
a< 1
a> RESERVE mail timeout=0
a~ JOB 2 mail 1 lease=\d+ delivery=\d+ 1
a< 2
a> RESERVE mail timeout=0
a< NOJOB
a> RESERVE mail timeout=5s
a~ JOB 3 mail 1 lease=\d+ delivery=\d+ 1
a< 3
a> QUEUE mail
a~ JSON \d+
a~ \{"queue":"mail","paused":false,"config":\{"rate":"2/300ms",.*"totals":\{"enqueued":3,"started":3,.*
