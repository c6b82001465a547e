# CONNECT with verbose true is itself answered with +OK, and so is every
# later PUB, SUB and UNSUB.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":true,"pedantic":false}
a< +OK
a> SUB foo 1
a< +OK
a> PUB foo 0
a>
a< +OK
a< MSG foo 1 0
a<
a> UNSUB 1
a< +OK
a> PING
a< PONG
# CONNECT {"verbose":false} turns +OK off, including for the CONNECT.
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false}
b> SUB foo 1
b> PUB foo 2
b> hi
b< MSG foo 1 2
b< hi
b> UNSUB 1
b> PONG
b> PING
b< PONG
