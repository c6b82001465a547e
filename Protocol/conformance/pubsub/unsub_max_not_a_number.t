# UNSUB with a max that is not a count (negative, fractional, non-numeric, too long) removes
# the subscription at once, as UNSUB <sid> 0 does; the connection stays open.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> SUB foo 1
a> SUB foo 2
a> SUB foo 3
a> SUB foo 4
a> SUB foo 5
a> UNSUB 1 -1
a> UNSUB 2 2.5
a> UNSUB 3 abc
a> UNSUB 4 99999999999
a> PUB foo 1
a> x
a< MSG foo 5 1
a< x
a> PING
a< PONG
