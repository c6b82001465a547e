# '*' matches exactly one token, anywhere in the subject.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> SUB foo.*.baz 1
a> PUB foo.bar.baz 1
a> 1
a< MSG foo.bar.baz 1 1
a< 1
a> PUB foo.baz 1
a> 2
a> PUB foo.bar.qux.baz 1
a> 3
a> PUB foo.bar.baz.qux 1
a> 4
a> PING
a< PONG
a> UNSUB 1
a> SUB * 2
a> PUB solo 1
a> 5
a< MSG solo 2 1
a< 5
a> PUB two.tokens 1
a> 6
a> PING
a< PONG
