# backoff=exp:<base>[:<cap>] waits base x 2^(attempt-1), at most cap:
# exp:100ms waits 100 then 200 ms; exp:100ms:150ms waits 100, then 150 (not
# 200), then 150 (not 400). When no attempt is left, FAIL answers +OK dead.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ e backoff=exp:100ms 1
a> e
a< +OK 1
a> ENQ c attempts=4 backoff=exp:100ms:150ms 1
a> c
a< +OK 2
a> RESERVE e timeout=0
a~ JOB 1 e 1 lease=\d+ delivery=\d+ 1
a< e
a> FAIL 1
a< +OK retry 100
a> RESERVE e timeout=5s
a~ JOB 1 e 2 lease=\d+ delivery=\d+ 1
a< e
a> FAIL 1
a< +OK retry 200
a> RESERVE e timeout=5s
a~ JOB 1 e 3 lease=\d+ delivery=\d+ 1
a< e
a> FAIL 1
a< +OK dead
a> RESERVE c timeout=0
a~ JOB 2 c 1 lease=\d+ delivery=\d+ 1
a< c
a> FAIL 2
a< +OK retry 100
a> RESERVE c timeout=5s
a~ JOB 2 c 2 lease=\d+ delivery=\d+ 1
a< c
a> FAIL 2
a< +OK retry 150
a> RESERVE c timeout=5s
a~ JOB 2 c 3 lease=\d+ delivery=\d+ 1
a< c
a> FAIL 2
a< +OK retry 150
a> RESERVE c timeout=5s
a~ JOB 2 c 4 lease=\d+ delivery=\d+ 1
a< c
a> FAIL 2
a< +OK dead
