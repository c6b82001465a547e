# The sid is an opaque token echoed byte for byte (no number parsing).
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> SUB foo 007
a> PUB foo 1
a> x
a< MSG foo 007 1
a< x
a> UNSUB 007
a> SUB bar aBc-1_z
a> PUB bar 1
a> y
a< MSG bar aBc-1_z 1
a< y
a> PING
a< PONG
# Sids belong to their connection: UNSUB of a sid on one connection does
# not touch the same sid on another.
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> SUB bar aBc-1_z
b> UNSUB aBc-1_z
b> PUB bar 1
b> z
b> PING
b< PONG
a< MSG bar aBc-1_z 1
a< z
a> PING
a< PONG
