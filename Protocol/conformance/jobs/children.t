# CHILDREN <id> [after=<id>] [limit=<n>]: one page of the jobs enqueued after= a job, by id, with
# the next page's cursor (null on the last); NOT_FOUND for no such job, [] without children.
# INSPECT lists the first 1000 children (and "children_truncated":true past them).
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"headers":true}
a> ENQ p 1
a> p
a< +OK 1
a> BATCH 3
a> ENQ c after=1 1
a> a
a> ENQ c after=1 1
a> b
a> ENQ c after=1 1
a> c
a< +OK 2 3 4
a> CHILDREN 1 limit=2
a< JSON 34
a< {"id":1,"children":[2,3],"next":3}
a> CHILDREN 1 after=3 limit=2
a< JSON 35
a< {"id":1,"children":[4],"next":null}
a> CHILDREN 1
a< JSON 39
a< {"id":1,"children":[2,3,4],"next":null}
a> CHILDREN 2
a< JSON 34
a< {"id":2,"children":[],"next":null}
a> INSPECT 1
a~ JSON \d+
a~ \{"id":1,.*"children":\[2,3,4\]\}
a> CHILDREN 99
a< -ERR 'NOT_FOUND job 99 does not exist'
a> CHILDREN 1 after=x
a< -ERR 'BAD_OPTION after=x: CHILDREN takes <job-id> [after=<job-id>] [limit=1-1000], each once'
a> SUB _INBOX.r 1
a> HPUB $DOCKET.API.CHILDREN.1 _INBOX.r 37 37
a> NATS/1.0\r\nDocket-Options: limit=1\r\n\r\n
a< MSG _INBOX.r 1 32
a< {"id":1,"children":[2],"next":2}
