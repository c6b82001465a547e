# When the connection holding a job closes ("worker lost"), the attempt
# counts as failed and follows the retry policy: another connection
# reserves the job again with attempt 2. It makes no difference whether the
# client closes or the server closes it after a fatal protocol error.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q backoff=fixed:100ms 3
a> job
a< +OK 1
a> ENQ r backoff=fixed:100ms 3
a> two
a< +OK 2
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 3
a< job
a! close
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> RESERVE q timeout=5s
b~ JOB 1 q 2 lease=\d+ delivery=\d+ 3
b< job
b> ACK 1
b< +OK
c~ INFO \{.*\} ?
c> CONNECT {"verbose":false,"pedantic":false}
c> RESERVE r timeout=0
c~ JOB 2 r 1 lease=\d+ delivery=\d+ 3
c< two
c> NOSUCHVERB
c< -ERR 'Unknown Protocol Operation'
c! eof
b> RESERVE r timeout=5s
b~ JOB 2 r 2 lease=\d+ delivery=\d+ 3
b< two
b> ACK 2
b< +OK
