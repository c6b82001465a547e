# ENQ key=<k> is idempotent per queue: while the queue knows a job with
# that key, in any state, a second ENQ creates nothing and answers
# +OK <id> duplicate with the first job's id. Another queue has its own keys.
# Once the job is deleted the key is free again.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q key=order-17 5
a> first
a< +OK 1
a> ENQ q key=order-17 6
a> second
a< +OK 1 duplicate
a> ENQ other key=order-17 5
a> third
a~ \+OK \d+
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 5
a< first
a> RESERVE q timeout=0
a< NOJOB
# still a duplicate while active, and once completed
a> ENQ q key=order-17 1
a> x
a< +OK 1 duplicate
a> ACK 1
a< +OK
a> ENQ q key=order-17 1
a> x
a< +OK 1 duplicate
a> INSPECT 1
a~ JSON \d+
a~ \{(?=.*"key":"order-17")(?=.*"state":"completed").*\}
a> DEL 1
a< +OK
a> ENQ q key=order-17 6
a> fourth
a~ \+OK \d+
a> RESERVE q timeout=0
a~ JOB \d+ q 1 lease=\d+ delivery=\d+ 6
a< fourth
