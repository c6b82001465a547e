# Queue administration and listings through $DOCKET.API, for clients that speak only NATS:
# PAUSE, RESUME, DEAD, QUEUES, ROUTES and UNROUTE answer as the wire verbs do.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"headers":true}
a> SUB _INBOX.r 1
a> ENQ emails attempts=1 1
a> x
a< +OK 1
a> ROUTE orders.> emails
a< +OK 1
a> PUB $DOCKET.API.PAUSE.emails _INBOX.r 0
a>
a< MSG _INBOX.r 1 11
a< {"ok":true}
a> QUEUE emails
a~ JSON \d+
a~ \{"queue":"emails","paused":true,.*
a> PUB $DOCKET.API.RESUME.emails _INBOX.r 0
a>
a< MSG _INBOX.r 1 11
a< {"ok":true}
a> PUB $DOCKET.API.DEAD.emails _INBOX.r 0
a>
a< MSG _INBOX.r 1 2
a< []
a> PUB $DOCKET.API.QUEUES _INBOX.r 0
a>
a~ MSG _INBOX\.r 1 \d+
a~ \[\{"queue":"emails",.*\}\]
a> PUB $DOCKET.API.ROUTES _INBOX.r 0
a>
a~ MSG _INBOX\.r 1 \d+
a< [{"id":1,"pattern":"orders.>","queue":"emails","rule":"orders.> emails"}]
a> PUB $DOCKET.API.UNROUTE.1 _INBOX.r 0
a>
a< MSG _INBOX.r 1 11
a< {"ok":true}
a> ROUTES
a< JSON 2
a< []
