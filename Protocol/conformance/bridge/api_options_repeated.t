# A $DOCKET.API request takes its options from one Docket-Options header line. Two lines (as
# nats.go's Header.Add makes them) are refused BAD_OPTION with nothing done, as the wire refuses
# an option given twice: keeping one line would drop the other's options (a key=, say) unseen.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"headers":true}
a> SUB _INBOX.r 1
a> HPUB $DOCKET.API.ENQ.q _INBOX.r 59 60
a> NATS/1.0\r\nDocket-Options: key=k1\r\nDocket-Options: pri=2\r\n\r\nx
a~ MSG _INBOX\.r 1 \d+
a< {"error":{"code":"BAD_OPTION","message":"Docket-Options is given more than once; put every option in one header"}}
a> HPUB $DOCKET.API.ENQ.q _INBOX.r 42 43
a> NATS/1.0\r\nDocket-Options: key=k1 pri=2\r\n\r\nx
a~ MSG _INBOX\.r 1 \d+
a< {"id":1,"duplicate":false}
a> INSPECT 1
a~ JSON \d+
a~ \{"id":1,"queue":"q","state":"waiting","priority":2,.*"key":"k1",.*\}
