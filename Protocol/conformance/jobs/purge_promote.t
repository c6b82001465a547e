# PURGE <queue> state=<waiting|delayed|completed|dead> [older=<duration>] deletes those jobs
# and answers +OK <count> once that is durable; active jobs cannot be purged. PROMOTE <id>
# makes a delayed job waiting now; any other state is NOT_DELAYED.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q delay=1h 1
a> a
a< +OK 1
a> ENQ q delay=1h 1
a> b
a< +OK 2
a> ENQ q 1
a> c
a< +OK 3
a> PROMOTE 2
a< +OK
a> PROMOTE 2
a< -ERR 'NOT_DELAYED job 2 is waiting, not delayed'
a> PROMOTE 99
a< -ERR 'NOT_FOUND job 99 does not exist'
a> PROMOTE x
a~ -ERR 'BAD_ID .*'
# Job 3 became runnable before job 2 was promoted: it runs first.
a> RESERVE q timeout=0
a~ JOB 3 q 1 lease=\d+ delivery=\d+ 1
a< c
a> ACK 3
a< +OK
a> PURGE q state=delayed older=1h
a< +OK 0
a> PURGE q state=delayed
a< +OK 1
a> INSPECT 1
a< -ERR 'NOT_FOUND job 1 does not exist'
a> PURGE q state=completed
a< +OK 1
a> PURGE q state=waiting
a< +OK 1
a> LIST q state=waiting
a~ JSON \d+
a< {"queue":"q","state":"waiting","jobs":[],"next":null}
a> PURGE q state=active
a~ -ERR 'BAD_OPTION state=active: PURGE takes .*'
a> PURGE q
a~ -ERR 'BAD_OPTION PURGE needs state=.*'
a> PURGE q state=dead older=soon
a~ -ERR 'BAD_OPTION older=soon: .*'
a> PING
a< PONG
