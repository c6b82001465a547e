# $DOCKET.API.BATCH takes the ENQ commands as written on the wire and answers every id;
# $DOCKET.API.PARENTS.<id> answers PARENTS' array.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"headers":true}
a> SUB _INBOX.1 1
a> PUB $DOCKET.API.BATCH _INBOX.1 34
a> ENQ a 1\r\nx\r\nENQ b after=#1 2\r\nyz\r\n\r\n
a~ MSG _INBOX\.1 1 \d+
a< {"ids":[1,2]}
a> PUB $DOCKET.API.PARENTS.2 _INBOX.1 0
a>
a~ MSG _INBOX\.1 1 \d+
a< [{"id":1,"queue":"a","state":"waiting","result":null,"error":null}]
a> PUB $DOCKET.API.BATCH _INBOX.1 7
a> PING\r\n\r\n
a~ MSG _INBOX\.1 1 \d+
a< {"error":{"code":"BAD_OPTION","message":"command 1 of the batch is not an ENQ; a BATCH holds only ENQs"}}
a> PUB $DOCKET.API.BATCH _INBOX.1 0
a>
a~ MSG _INBOX\.1 1 \d+
a< {"error":{"code":"BAD_OPTION","message":"the batch holds no ENQ"}}
