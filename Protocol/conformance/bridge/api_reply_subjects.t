# A $DOCKET.API request is answered on its reply subject only if that is a literal subject outside
# $JOB. (the server answers as itself, and lifecycle events are its own): otherwise nothing is done
# and the connection hears a permissions violation, and stays open. Verbs are exact upper-case
# tokens, as subject permissions match them.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"headers":true}
a> SUB _INBOX.> 1
a> SUB $JOB.> 2
a> PUB $DOCKET.API.ENQ.emails $JOB.emails.completed 2
a> hi
a< -ERR 'Permissions Violation for Publish to "$JOB.emails.completed"'
a> PUB $DOCKET.API.ENQ.emails _INBOX.* 2
a> hi
a< -ERR 'Permissions Violation for Publish to "_INBOX.*"'
a> PUB $DOCKET.API.ENQ.emails _INBOX..x 2
a> hi
a< -ERR 'Permissions Violation for Publish to "_INBOX..x"'
a> PUB $DOCKET.API.enq.emails _INBOX.a 2
a> hi
a~ MSG _INBOX\.a 1 \d+
a~ \{"error":\{"code":"BAD_OPTION","message":"unknown API subject.*"\}\}
a> PUB $DOCKET.API.QUEUES _INBOX.b 0
a>
a< MSG _INBOX.b 1 2
a< []
a> UNSUB 2
a> PUB $DOCKET.API.ENQ.emails _INBOX.c 2
a> hi
a< MSG _INBOX.c 1 26
a< {"id":1,"duplicate":false}
