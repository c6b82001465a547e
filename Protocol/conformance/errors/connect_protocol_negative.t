# The protocol field is 0 or 1: a negative one is refused and the client disconnected.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"protocol":-1}
a< -ERR 'invalid client protocol'
a! eof
