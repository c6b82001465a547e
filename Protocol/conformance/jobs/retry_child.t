# A retried job does not wait for its parents again: a child that died of its parent runs at
# once when retried, whatever the parent's state, so a flow is rerun parents first and the
# children once the parents have completed.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ p attempts=1 1
a> a
a< +OK 1
a> ENQ c after=1 1
a> b
a< +OK 2
a> RESERVE p timeout=0
a~ JOB 1 p 1 lease=\d+ delivery=\d+ 1
a< a
a> FAIL 1 3
a> bad
a< +OK dead
a> INSPECT 2
a~ JSON \d+
a~ \{"id":2,.*"state":"dead",.*"last_error":"parent 1 dead",.*\}
# The parent first: the child stays dead.
a> RETRY 1
a< +OK
a> INSPECT 2
a~ JSON \d+
a~ \{"id":2,.*"state":"dead",.*\}
# The child runs at once, its parent still waiting.
a> RETRY 2
a< +OK
a> INSPECT 2
a~ JSON \d+
a~ \{"id":2,.*"state":"waiting",.*"parents":\[1\].*\}
a> RESERVE c timeout=0
a~ JOB 2 c 1 lease=\d+ delivery=\d+ 1
a< b
a> PARENTS 2
a~ JSON \d+
a< [{"id":1,"queue":"p","state":"waiting","result":null,"error":"bad"}]
a> PING
a< PONG
