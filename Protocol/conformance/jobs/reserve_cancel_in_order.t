# Behind two pipelined RESERVEs, a CANCEL ends only the second, and only once
# the first is answered and the second waits in its turn; the commands behind
# the CANCEL wait for all of that, as they would behind one waiting RESERVE.
# So the first RESERVE takes the job another client enqueues, not the one
# this client enqueued behind the CANCEL. (On PostgreSQL the second RESERVE,
# read ahead to share the first's transaction, was ended at once, and the ENQ
# behind the CANCEL ran before the first RESERVE was answered.)
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
a>> RESERVE r\r\nRESERVE r\r\nCANCEL\r\nENQ r 4\r\nmine\r\n
b> ENQ r 5
b> other
b< +OK 1
a~ JOB 1 r 1 lease=\d+ delivery=\d+ 5
a< other
a< NOJOB
a< +OK
a< +OK 2
a> RESERVE r timeout=0
a~ JOB 2 r 1 lease=\d+ delivery=\d+ 4
a< mine
