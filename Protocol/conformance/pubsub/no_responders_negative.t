# No 503 when nobody asked for it, or when there is a responder.
# Without no_responders in CONNECT a request to nobody gets no answer:
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"headers":true}
a> SUB _INBOX.x 1
a> PUB svc.none _INBOX.x 1
a> q
a> PING
a< PONG
# With a subscriber on the request subject, the request is delivered and
# the requester gets nothing from the server:
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> SUB svc.up 1
b> PING
b< PONG
c~ INFO \{.*\} ?
c> CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}
c> SUB _INBOX.c.* 2
c> PUB svc.up _INBOX.c.1 1
c> q
c> PING
c< PONG
b< MSG svc.up 1 _INBOX.c.1 1
b< q
