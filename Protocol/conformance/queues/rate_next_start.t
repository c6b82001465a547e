# QUEUE says why a queue holds its jobs and when the next one may start: with rate=2/1h and
# two starts in the window, blocked_by is "rate" and next_start_at the older start plus the
# hour (a 13-digit unix ms); on either store.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> QUEUE slow rate=2/1h
a< +OK
a> QUEUE slow
a~ JSON \d+
a~ \{"queue":"slow",.*"rate_window_starts":0,"next_start_at":null,"blocked_by":null,.*\}
a> ENQ slow 1
a> a
a< +OK 1
a> ENQ slow 1
a> b
a< +OK 2
a> ENQ slow 1
a> c
a< +OK 3
a> RESERVE slow timeout=0
a~ JOB 1 slow 1 lease=\d+ delivery=\d+ 1
a< a
a> RESERVE slow timeout=0
a~ JOB 2 slow 1 lease=\d+ delivery=\d+ 1
a< b
a> RESERVE slow timeout=0
a< NOJOB
a> QUEUE slow
a~ JSON \d+
a~ \{"queue":"slow",.*"rate_window_starts":2,"next_start_at":\d{13},"blocked_by":"rate",.*\}
