# Before any CONNECT the connection is verbose: PUB, SUB and UNSUB get
# +OK, PING gets only PONG, PONG gets nothing.
a~ INFO \{.*\} ?
a> SUB foo 1
a< +OK
a> PUB foo 2
a> hi
a< +OK
a< MSG foo 1 2
a< hi
a> UNSUB 1
a< +OK
a> PONG
a> PING
a< PONG
