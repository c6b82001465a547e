# The same check guards $DOCKET.API: the answer is the error object, with code FORBIDDEN
# (NOT_FOUND for a job in a queue the user may not read).
! docket-only
! config: authorization { users = [ { user: producer, password: p1 } ] }
! config: docket { permissions { producer: { enqueue: emails } } }
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"user":"producer","pass":"p1"}
a> SUB _INBOX.1 1
a> PUB $DOCKET.API.ENQ.emails _INBOX.1 5
a> hello
a< MSG _INBOX.1 1 26
a< {"id":1,"duplicate":false}
a> PUB $DOCKET.API.ENQ.billing _INBOX.1 5
a> hello
a~ MSG _INBOX\.1 1 \d+
a~ \{"error":\{"code":"FORBIDDEN","message":"user producer may not enqueue on queue billing"\}\}
a> PUB $DOCKET.API.DEL.1 _INBOX.1 0
a>
a~ MSG _INBOX\.1 1 \d+
a~ \{"error":\{"code":"NOT_FOUND","message":"job 1 does not exist"\}\}
