# '>' as the last token matches one or more trailing tokens; foo.> does
# not match foo itself.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> SUB foo.> 1
a> PUB foo 1
a> 0
a> PUB foo.bar 1
a> 1
a< MSG foo.bar 1 1
a< 1
a> PUB foo.bar.baz.qux 1
a> 2
a< MSG foo.bar.baz.qux 1 1
a< 2
a> PUB food.bar 1
a> 3
a> PING
a< PONG
a> UNSUB 1
a> SUB > 2
a> PUB anything.at.all 1
a> 4
a< MSG anything.at.all 2 1
a< 4
a> UNSUB 2
# '*' and '>' combine: *.b.> needs a first token, then b, then at least
# one more token.
a> SUB *.b.> 3
a> PUB a.b 1
a> 5
a> PUB b.c.d 1
a> 6
a> PUB a.b.c 1
a> 7
a< MSG a.b.c 3 1
a< 7
a> PING
a< PONG
