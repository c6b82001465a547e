# Each verb that names a job, on a job in each state it cannot act on: a
# waiting or delayed job is NOT_HELD for the worker verbs, a completed or dead
# one too (even with its own attempt=, from the connection that held it);
# RETRY of anything but a dead job is NOT_DEAD, PROMOTE of anything but a
# delayed one NOT_DELAYED; a deleted job is NOT_FOUND for every verb
# (not_found.t for ids never issued). Nothing changes.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q 1
a> x
a< +OK 1
a> ENQ q delay=1h 1
a> y
a< +OK 2
a> ENQ q attempts=1 1
a> z
a< +OK 3
a> ENQ q delay=1h 0
a>
a< +OK 4
# waiting (1) and delayed (2)
a> ACK 1
a~ -ERR 'NOT_HELD .*'
a> TOUCH 1
a~ -ERR 'NOT_HELD .*'
a> PROGRESS 1 5
a~ -ERR 'NOT_HELD .*'
a> FAIL 1
a~ -ERR 'NOT_HELD .*'
a> FAIL 2 throttle=1s
a~ -ERR 'NOT_HELD .*'
a> PROMOTE 1
a< -ERR 'NOT_DELAYED job 1 is waiting, not delayed'
a> RETRY 1
a< -ERR 'NOT_DEAD job 1 is waiting, not dead'
a> RETRY 2
a< -ERR 'NOT_DEAD job 2 is delayed, not dead'
# completed (1)
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a> ACK 1 attempt=1
a< +OK
a> ACK 1 attempt=1
a~ -ERR 'NOT_HELD .*'
a> FAIL 1 attempt=1
a~ -ERR 'NOT_HELD .*'
a> TOUCH 1
a~ -ERR 'NOT_HELD .*'
a> PROGRESS 1 5 attempt=1
a~ -ERR 'NOT_HELD .*'
a> RETRY 1
a< -ERR 'NOT_DEAD job 1 is completed, not dead'
a> PROMOTE 1
a< -ERR 'NOT_DELAYED job 1 is completed, not delayed'
a> WAIT 1
a< OUTCOME 1 completed 0
a<
# dead (3)
a> RESERVE q timeout=0
a~ JOB 3 q 1 lease=\d+ delivery=\d+ 1
a< z
a> FAIL 3 attempt=1 4
a> boom
a< +OK dead
a> ACK 3 attempt=1
a~ -ERR 'NOT_HELD .*'
a> FAIL 3
a~ -ERR 'NOT_HELD .*'
a> TOUCH 3 attempt=1
a~ -ERR 'NOT_HELD .*'
a> PROGRESS 3 5
a~ -ERR 'NOT_HELD .*'
a> PROMOTE 3
a< -ERR 'NOT_DELAYED job 3 is dead, not delayed'
a> WAIT 3 timeout=0
a< OUTCOME 3 dead 4
a< boom
# deleted (4)
a> DEL 4
a< +OK
a> ACK 4
a~ -ERR 'NOT_FOUND .*'
a> FAIL 4
a~ -ERR 'NOT_FOUND .*'
a> TOUCH 4
a~ -ERR 'NOT_FOUND .*'
a> PROGRESS 4 5
a~ -ERR 'NOT_FOUND .*'
a> INSPECT 4
a~ -ERR 'NOT_FOUND .*'
a> RETRY 4
a~ -ERR 'NOT_FOUND .*'
a> PROMOTE 4
a~ -ERR 'NOT_FOUND .*'
a> DEL 4
a~ -ERR 'NOT_FOUND .*'
a> WAIT 4 timeout=0
a~ -ERR 'NOT_FOUND .*'
a> PARENTS 4
a~ -ERR 'NOT_FOUND .*'
a> CHILDREN 4
a~ -ERR 'NOT_FOUND .*'
# nothing changed
a> INSPECT 1
a~ JSON \d+
a~ \{(?=.*"state":"completed")(?=.*"attempts":1[,}]).*\}
a> INSPECT 2
a~ JSON \d+
a~ \{(?=.*"state":"delayed")(?=.*"attempts":0[,}]).*\}
a> INSPECT 3
a~ JSON \d+
a~ \{(?=.*"state":"dead")(?=.*"attempts":1[,}]).*\}
