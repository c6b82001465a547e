# A client asking for protocol 2 is refused and disconnected.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"protocol":2}
a< -ERR 'invalid client protocol'
a! eof
