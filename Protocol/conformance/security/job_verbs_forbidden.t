# Job rights are per queue: a producer that may only enqueue on emails gets FORBIDDEN for
# anything else, and its connection keeps working. A job in a queue it may not read does not
# exist for it: NOT_FOUND, word for word as for an id never given.
! docket-only
! config: authorization { users = [ { user: producer, password: p1 } ] }
! config: docket { permissions { producer: { enqueue: emails } } }
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"user":"producer","pass":"p1"}
a> ENQ emails 5
a> hello
a< +OK 1
a> ENQ billing 5
a> hello
a< -ERR 'FORBIDDEN user producer may not enqueue on queue billing'
a> RESERVE emails timeout=0
a< -ERR 'FORBIDDEN user producer may not work on queue emails'
a> INSPECT 1
a< -ERR 'NOT_FOUND job 1 does not exist'
a> DEL 1
a< -ERR 'NOT_FOUND job 1 does not exist'
a> INSPECT 99
a< -ERR 'NOT_FOUND job 99 does not exist'
a> PAUSE emails
a< -ERR 'FORBIDDEN user producer may not admin on queue emails'
a> STATS
a< -ERR 'FORBIDDEN user producer may not read every queue, which STATS shows'
a> QUEUES
a< JSON 2
a< []
a> ENQ emails 3
a> bye
a< +OK 2
