# UNSUB of a sid that does not exist is ignored (still +OK when verbose).
a~ INFO \{.*\} ?
a> UNSUB 99
a< +OK
a> UNSUB 98 5
a< +OK
a> PING
a< PONG
