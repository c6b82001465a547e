# A parent that dies before completing kills its blocked children (on_parent_dead=fail, the
# default), and theirs in turn; with on_parent_dead=run the child runs anyway. Deleting a parent
# counts as its death. Unknown parents and bad lists are refused.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ p attempts=1 1
a> a
a< +OK 1
a> ENQ c after=1 1
a> b
a< +OK 2
a> ENQ g after=2 1
a> c
a< +OK 3
a> ENQ c after=1 on_parent_dead=run 1
a> d
a< +OK 4
a> RESERVE p timeout=0
a~ JOB 1 p 1 lease=\d+ delivery=\d+ 1
a< a
a> FAIL 1 3
a> bad
a< +OK dead
a> INSPECT 2
a~ JSON \d+
a~ \{"id":2,.*"state":"dead",.*"last_error":"parent 1 dead",.*\}
a> INSPECT 3
a~ JSON \d+
a~ \{"id":3,.*"state":"dead",.*"last_error":"parent 2 dead",.*\}
a> INSPECT 4
a~ JSON \d+
a~ \{"id":4,.*"state":"waiting",.*"on_parent_dead":"run"\}
a> PARENTS 4
a~ JSON \d+
a< [{"id":1,"queue":"p","state":"dead","result":null,"error":"bad"}]
# A parent dead at the ENQ: the child is dead at once.
a> ENQ c after=1 1
a> e
a< +OK 5
a> INSPECT 5
a~ JSON \d+
a~ \{"id":5,.*"state":"dead",.*"last_error":"parent 1 dead",.*\}
# Deleting a parent before it completes.
a> ENQ p 1
a> f
a< +OK 6
a> ENQ c after=6 1
a> g
a< +OK 7
a> DEL 6
a< +OK
a> INSPECT 7
a~ JSON \d+
a~ \{"id":7,.*"state":"dead",.*"last_error":"parent 6 deleted",.*\}
a> PARENTS 7
a~ JSON \d+
a< [{"id":6,"state":"deleted"}]
a> ENQ c after=999 1
a> x
a< -ERR 'NOT_FOUND parent job 999 not found'
a> ENQ c after=1,1 1
a> x
a~ -ERR 'BAD_OPTION after=1,1: after needs job ids or #<n> .*'
a> ENQ c after=#1 1
a> x
a< -ERR 'BAD_OPTION after=#1 names an ENQ of the same BATCH, and this ENQ is not in one'
a> ENQ c after=1 on_parent_dead=maybe 1
a> x
a~ -ERR 'BAD_OPTION on_parent_dead=maybe: on_parent_dead is fail or run, once'
a> ENQ c on_parent_dead=run 1
a> x
a< -ERR 'BAD_OPTION on_parent_dead= goes with after='
a> ROUTE a.b c after=1
a~ -ERR 'BAD_OPTION a route cannot fix key=, at= or expires=, nor wait for jobs \(after=\).*'
a> PARENTS 999
a< -ERR 'NOT_FOUND job 999 does not exist'
a> PING
a< PONG
