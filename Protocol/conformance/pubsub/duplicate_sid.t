# SUB with a sid that is already in use is ignored silently (still +OK
# when verbose): the first subscription stays, the second never exists.
a~ INFO \{.*\} ?
a> SUB foo 1
a< +OK
a> SUB bar 1
a< +OK
a> PUB bar 1
a> b
a< +OK
a> PUB foo 1
a> f
a< +OK
a< MSG foo 1 1
a< f
a> PING
a< PONG
