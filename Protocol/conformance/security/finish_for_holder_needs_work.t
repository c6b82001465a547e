# ACK and FAIL with attempt= may finish a job another connection holds, but only for a user who
# may work the job's queue: a reader is refused and the holder keeps the job.
! docket-only
! config: authorization { users = [ { user: worker, password: w1 }, { user: reader, password: r1 } ] }
! config: docket { permissions { worker: { enqueue: emails, work: emails }, reader: { read: emails } } }
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"user":"worker","pass":"w1"}
a> ENQ emails 5
a> hello
a< +OK 1
a> RESERVE emails timeout=0
a~ JOB 1 emails 1 lease=\d+ delivery=\d+ 5
a< hello
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false,"user":"reader","pass":"r1"}
b> ACK 1 attempt=1
b< -ERR 'FORBIDDEN user reader may not work on queue emails'
b> FAIL 1 attempt=1 retry=no
b< -ERR 'FORBIDDEN user reader may not work on queue emails'
c~ INFO \{.*\} ?
c> CONNECT {"verbose":false,"pedantic":false,"user":"worker","pass":"w1"}
c> ACK 1 attempt=1
c< +OK
a> ACK 1 attempt=1
a~ -ERR 'NOT_HELD .*'
