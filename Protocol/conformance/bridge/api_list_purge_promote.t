# LIST, PURGE and PROMOTE through $DOCKET.API answer as the wire verbs do; their options come
# in the Docket-Options header.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"headers":true}
a> SUB _INBOX.r 1
a> ENQ mail delay=1h 1
a> x
a< +OK 1
a> ENQ mail 1
a> y
a< +OK 2
a> HPUB $DOCKET.API.LIST.mail _INBOX.r 44 44
a> NATS/1.0\r\nDocket-Options: state=delayed\r\n\r\n
a~ MSG _INBOX\.r 1 \d+
a~ \{"queue":"mail","state":"delayed","jobs":\[\{"id":1,.*\}\],"next":null\}
a> PUB $DOCKET.API.PROMOTE.1 _INBOX.r 0
a>
a< MSG _INBOX.r 1 11
a< {"ok":true}
a> HPUB $DOCKET.API.PURGE.mail _INBOX.r 44 44
a> NATS/1.0\r\nDocket-Options: state=waiting\r\n\r\n
a< MSG _INBOX.r 1 11
a< {"count":2}
a> PUB $DOCKET.API.LIST.mail _INBOX.r 0
a>
a~ MSG _INBOX\.r 1 \d+
a< {"queue":"mail","state":"waiting","jobs":[],"next":null}
a> PUB $DOCKET.API.PROMOTE.2 _INBOX.r 0
a>
a~ MSG _INBOX\.r 1 \d+
a< {"error":{"code":"NOT_FOUND","message":"job 2 does not exist"}}
