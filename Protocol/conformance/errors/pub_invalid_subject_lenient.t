# Without pedantic, PUB to a wildcard or malformed subject is not an
# error: verbose still answers +OK and nothing reaches a literal
# subscriber.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":true,"pedantic":false}
a< +OK
a> SUB foo.bar 1
a< +OK
a>> PUB foo.* 2\r\nhi\r\n
a< +OK
a>> PUB foo..bar 2\r\nhi\r\n
a< +OK
a> PING
a< PONG
