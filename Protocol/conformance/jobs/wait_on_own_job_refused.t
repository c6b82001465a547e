# WAIT holds the connection's later commands until the job ends. Without a timeout, on a job the
# same connection holds, that would be for ever (its ACK could never be read), so it is refused;
# with a timeout it waits that long, as any WAIT.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false}
a> ENQ q 1
a> x
a< +OK 1
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a> WAIT 1
a< -ERR 'BAD_OPTION job 1 is held by this connection: ACK or FAIL it rather than WAIT for it'
a> WAIT 1 timeout=0
a< PENDING 1 active
a> ACK 1
a< +OK
a> WAIT 1
a< OUTCOME 1 completed 0
a<
