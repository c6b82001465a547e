# A connection that never uses a job verb never sees a job reply: while a
# and b enqueue, reserve, wait and complete jobs, a plain NATS client c
# sees only its own messages and PONGs.
! docket-only
c~ INFO \{.*\} ?
c> CONNECT {"verbose":false,"pedantic":false,"echo":true}
c> SUB news 1
c> PING
c< PONG
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> RESERVE work
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> RESERVE other timeout=100ms
a< NOJOB
a> ENQ work 3
a> job
a< +OK 1
b~ JOB 1 work 1 lease=\d+ delivery=\d+ 3
b< job
c> PUB news 2
c> hi
c< MSG news 1 2
c< hi
b> ACK 1
b< +OK
a> INSPECT 1
a~ JSON \d+
a~ \{.*\}
a> DEAD work
a~ JSON \d+
a~ \[.*\]
c> PING
c< PONG
