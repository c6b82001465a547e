# FAIL without retry= waits the job's backoff: by default exp:1s:1h, so
# 1000 ms after the first attempt; backoff=fixed:<d> waits d every time.
# A FAIL with neither option nor reason is valid.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q 1
a> x
a< +OK 1
a> ENQ f backoff=fixed:250ms 1
a> y
a< +OK 2
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a> FAIL 1
a< +OK retry 1000
a> RESERVE f timeout=0
a~ JOB 2 f 1 lease=\d+ delivery=\d+ 1
a< y
a> FAIL 2 4
a> oops
a< +OK retry 250
a> RESERVE f timeout=5s
a~ JOB 2 f 2 lease=\d+ delivery=\d+ 1
a< y
a> FAIL 2
a< +OK retry 250
a> PING
a< PONG
# backoff=fixed:0 retries at once.
a> ENQ z backoff=fixed:0 1
a> z
a< +OK 3
a> RESERVE z timeout=0
a~ JOB \d+ z 1 lease=\d+ delivery=\d+ 1
a< z
a> FAIL 3
a< +OK retry 0
a> RESERVE z timeout=0
a~ JOB \d+ z 2 lease=\d+ delivery=\d+ 1
a< z
# Job documents write the backoff in milliseconds.
a> INSPECT 3
a~ JSON \d+
a~ \{(?=.*"backoff":"fixed:0ms").*\}
a> INSPECT 1
a~ JSON \d+
a~ \{(?=.*"backoff":"exp:1000ms:3600000ms").*\}
