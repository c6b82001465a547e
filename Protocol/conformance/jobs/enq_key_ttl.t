# ENQ key=… key_ttl=<duration>: the key is remembered at least that long after the ENQ, even
# once retention has removed its job; after that, and the job gone, the key is free again.
! docket-only
! flags: --keep-completed 1
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q key=order-1 key_ttl=1500ms 1
a> a
a< +OK 1
a> INSPECT 1
a~ JSON \d+
a~ \{"id":1,.*"key_until":\d+\}
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< a
a> ACK 1
a< +OK
# Two more completions: retention (keep 1) would remove job 1; its key window keeps it.
a> ENQ q 1
a> b
a< +OK 2
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 1
a< b
a> ACK 2
a< +OK
a> ENQ q 1
a> c
a< +OK 3
a> RESERVE q timeout=0
a~ JOB 3 q 1 lease=\d+ delivery=\d+ 1
a< c
a> ACK 3
a< +OK
a> ENQ q 1
a> d
a< +OK 4
a> ENQ q key=order-1 1
a> a
a< +OK 1 duplicate
a> INSPECT 2
a< -ERR 'NOT_FOUND job 2 does not exist'
# The window closes: job 1 goes (at the latest with the queue's next trim, here job 4's ACK),
# and the key makes a new job.
a> RESERVE nothing timeout=1700ms
a< NOJOB
a> RESERVE q timeout=0
a~ JOB 4 q 1 lease=\d+ delivery=\d+ 1
a< d
a> ACK 4
a< +OK
a> INSPECT 1
a< -ERR 'NOT_FOUND job 1 does not exist'
a> ENQ q key=order-1 1
a> a
a~ \+OK \d+
a> ENQ q key_ttl=1s 1
a> a
a< -ERR 'BAD_OPTION key_ttl= and replace= go with key='
a> ENQ q key=k key_ttl=0s 1
a> a
a~ -ERR 'BAD_OPTION key_ttl=0s: key_ttl needs a positive duration, once'
