# nats-server answers a pedantic publish error in verbose mode with the
# -ERR followed by +OK (the PUB itself was still accepted).
a~ INFO \{.*\} ?
a> CONNECT {"verbose":true,"pedantic":true}
a< +OK
a>> PUB foo.* 2\r\nhi\r\n
a< -ERR 'Invalid Publish Subject'
a< +OK
a> PING
a< PONG
