# SUB with a sid that is already in use is ignored silently (still +OK
# when verbose): the first subscription stays, the second never exists. Its
# subject is not even looked at: an invalid one is ignored the same way.
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
a> SUB foo..bar 1
a< +OK
a> PING
a< PONG
