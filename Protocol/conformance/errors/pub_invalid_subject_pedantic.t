# With "pedantic":true, PUB to a subject that is not a valid literal
# subject gets a non-fatal -ERR; the connection stays usable. Each PUB is
# sent in one write: nats-server repeats the -ERR when the payload arrives
# in a later read than the control line.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":true}
a>> PUB foo.* 2\r\nhi\r\n
a< -ERR 'Invalid Publish Subject'
a>> PUB foo.> 2\r\nhi\r\n
a< -ERR 'Invalid Publish Subject'
a>> PUB foo..bar 2\r\nhi\r\n
a< -ERR 'Invalid Publish Subject'
a>> PUB > 2\r\nhi\r\n
a< -ERR 'Invalid Publish Subject'
a> SUB ok 1
a>> PUB ok 2\r\nhi\r\n
a< MSG ok 1 2
a< hi
a> PING
a< PONG
