# A CONNECT flag (verbose, pedantic, echo, headers, no_responders) that is neither true, false
# nor null closes the connection, as nats-server, which cannot read such a document, does
# (silently; docketd says why). Taken as absent, "echo":"false" left echo on unseen.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"echo":"false"}
a< -ERR 'Invalid Protocol: CONNECT field echo must be true or false'
a! eof
b~ INFO \{.*\} ?
b> CONNECT {"verbose":0}
b< -ERR 'Invalid Protocol: CONNECT field verbose must be true or false'
b! eof
c~ INFO \{.*\} ?
c> CONNECT {"verbose":false,"echo":null,"headers":true}
c> SUB a 1
c> PUB a 1
c> x
c< MSG a 1 1
c< x
c> PING
c< PONG
