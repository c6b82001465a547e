# Each matching subscription gets its own MSG, even on one connection
# (the order between them is not specified).
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> SUB foo 1
a> SUB foo 2
a> PUB foo 1
a> x
a~ MSG foo [12] 1
a< x
a~ MSG foo [12] 1
a< x
a> PING
a< PONG
