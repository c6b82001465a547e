# ROUTES answers one page of the routes, by id: up to limit= (1 to 1000,
# default 1000) of those whose id is above after= (any id, a route's or not),
# stopping early at max_payload (the first always). An empty page is the end;
# the same arguments go in Docket-Options through $DOCKET.API.ROUTES.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"headers":true}
a> ROUTE orders.a q
a< +OK 1
a> ROUTE orders.b q
a< +OK 2
a> ROUTE orders.c q
a< +OK 3
a> ROUTES
a~ JSON \d+
a~ \[\{"id":1,.*\},\{"id":2,.*\},\{"id":3,.*\}\]
a> ROUTES limit=2
a~ JSON \d+
a~ \[\{"id":1,.*\},\{"id":2,.*\}\]
a> ROUTES after=2 limit=2
a~ JSON \d+
a~ \[\{"id":3,.*\}\]
a> ROUTES after=3
a< JSON 2
a< []
a> ROUTES after=99
a< JSON 2
a< []
a> ROUTES limit=0
a< -ERR 'BAD_OPTION limit=0: ROUTES takes [after=<route-id>] [limit=1-1000], each once'
a> ROUTES first
a< -ERR 'BAD_OPTION first: ROUTES takes [after=<route-id>] [limit=1-1000], each once'
a> ROUTES after=a
a< -ERR 'BAD_OPTION after=a: ROUTES takes [after=<route-id>] [limit=1-1000], each once'
a> SUB _INBOX.r 1
a> HPUB $DOCKET.API.ROUTES _INBOX.r 45 45
a> NATS/1.0\r\nDocket-Options: after=1 limit=1\r\n\r\n
a~ MSG _INBOX\.r 1 \d+
a~ \[\{"id":2,"pattern":"orders\.b".*\}\]
