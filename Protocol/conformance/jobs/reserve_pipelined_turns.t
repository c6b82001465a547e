# RESERVEs pipelined on one connection take turns: the server reads the next one
# only once the one before it is answered, so each starts waiting (and its
# timeout starts running) only then, and a job that comes goes to the first
# one still waiting. Here the first times out after 1 s; the second, read only
# then, is still waiting when a job comes, and the third gets the next job.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
a>> RESERVE q timeout=1s\r\nRESERVE q timeout=1s\r\nRESERVE q timeout=1s\r\n
a< NOJOB
b>> ENQ q 1\r\nx\r\n
b< +OK 1
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
b>> ENQ q 1\r\ny\r\n
b< +OK 2
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 1
a< y
