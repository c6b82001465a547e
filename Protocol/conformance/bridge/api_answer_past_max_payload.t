# A $DOCKET.API answer travels as one message: one larger than max_payload
# (here a job document of some 500 bytes, past --max-payload 300) is answered
# LIMIT with its size instead, never sent past the max_payload INFO announced.
# The wire verb still answers it; small answers are unchanged.
! docket-only
! flags: --max-payload 300
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q 1
a> x
a< +OK 1
a> INSPECT 1
a~ JSON \d{3}
a~ \{"id":1,"queue":"q",.*\}
a> SUB _INBOX.r 1
a> PUB $DOCKET.API.INSPECT.1 _INBOX.r 0
a>
a~ MSG _INBOX\.r 1 \d+
a~ \{"error":\{"code":"LIMIT","message":"the answer is \d{3} bytes, more than max_payload \(300\) lets one message carry: ask for a smaller page \(limit=, after= in Docket-Options\) or use the wire verb"\}\}
a> PUB $DOCKET.API.TOUCH.1 _INBOX.r 0
a>
a~ MSG _INBOX\.r 1 \d+
a~ \{"error":\{"code":"NOT_HELD",.*\}\}
