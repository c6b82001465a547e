# SUB with a malformed subject is refused with a non-fatal error: empty
# tokens anywhere, or '>' that is not the last token.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> SUB foo..bar 1
a< -ERR 'Invalid Subject'
a> SUB foo. 2
a< -ERR 'Invalid Subject'
a> SUB .foo 3
a< -ERR 'Invalid Subject'
a> SUB foo.>.bar 4
a< -ERR 'Invalid Subject'
a> SUB >.foo 5
a< -ERR 'Invalid Subject'
a> PING
a< PONG
# In verbose mode a refused SUB gets only the -ERR (no +OK), and it
# creates no subscription: its sid is still free.
b~ INFO \{.*\} ?
b> SUB foo.>.bar 1
b< -ERR 'Invalid Subject'
b> SUB foo.* 1
b< +OK
b> PUB foo.x 1
b> x
b< +OK
b< MSG foo.x 1 1
b< x
b> PING
b< PONG
