# A changed rate= keeps counting the starts its window already holds: raised from 2/1h to
# 3/1h right after two starts, it lets one more start, not three; given a longer window, the
# two starts still fill it.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> QUEUE q rate=2/1h
a< +OK
a> ENQ q 1
a> 1
a< +OK 1
a> ENQ q 1
a> 2
a< +OK 2
a> ENQ q 1
a> 3
a< +OK 3
a> ENQ q 1
a> 4
a< +OK 4
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< 1
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 1
a< 2
a> RESERVE q timeout=0
a< NOJOB
a> QUEUE q rate=3/1h
a< +OK
a> RESERVE q timeout=0
a~ JOB 3 q 1 lease=\d+ delivery=\d+ 1
a< 3
a> RESERVE q timeout=0
a< NOJOB
a> QUEUE q rate=3/2h
a< +OK
a> RESERVE q timeout=0
a< NOJOB
a> QUEUE q
a~ JSON \d+
a~ \{(?=.*"rate_window_starts":3[,}]).*\}
