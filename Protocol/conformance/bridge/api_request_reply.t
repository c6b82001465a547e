# The job verbs as request/reply on $DOCKET.API for stock NATS clients: options in a
# Docket-Options header, answers as messages on the reply subject.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"headers":true}
a> SUB _INBOX.r 1
a> HPUB $DOCKET.API.ENQ.mail _INBOX.r 46 51
a> NATS/1.0
a> Docket-Options: attempts=2 pri=1
a>
a> hello
a< MSG _INBOX.r 1 26
a< {"id":1,"duplicate":false}
a> PUB $DOCKET.API.RESERVE.mail _INBOX.r 0
a>
a~ HMSG _INBOX.r 1 \d+ \d+
a< NATS/1.0
a< Docket-Job-Id: 1
a< Docket-Queue: mail
a< Docket-Attempt: 1
a< Docket-Lease-Ms: 30000
a~ Docket-Delivery: \d+
a<
a< hello
a> PUB $DOCKET.API.ACK.1 _INBOX.r 4
a> sent
a< MSG _INBOX.r 1 11
a< {"ok":true}
a> PUB $DOCKET.API.ACK.1 _INBOX.r 0
a>
a~ MSG _INBOX.r 1 \d+
a~ \{"error":\{"code":"NOT_HELD","message":".*"\}\}
a> PUB $DOCKET.API.WAIT.1 _INBOX.r 0
a>
a~ MSG _INBOX.r 1 \d+
a< {"id":1,"state":"completed","result":"sent","error":null}
