# A paused queue still takes jobs but starts none; RESUME wakes the waiting worker.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> PAUSE q
a< +OK
a> ENQ q 2
a> hi
a< +OK 1
a> RESERVE q timeout=0
a< NOJOB
a> QUEUE q
a~ JSON \d+
a~ \{"queue":"q","paused":true,.*"jobs":\{"waiting":1,.*
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> RESERVE q timeout=5s
a> RESUME q
a< +OK
b~ JOB 1 q 1 lease=\d+ delivery=\d+ 2
b< hi
