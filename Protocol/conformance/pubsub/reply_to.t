# The reply-to subject of a PUB is passed on in the MSG.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> SUB svc.echo 1
a> PING
a< PONG
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> SUB _INBOX.b1 r
b> PUB svc.echo _INBOX.b1 4
b> ping
a< MSG svc.echo 1 _INBOX.b1 4
a< ping
a> PUB _INBOX.b1 4
a> pong
b< MSG _INBOX.b1 r 4
b< pong
