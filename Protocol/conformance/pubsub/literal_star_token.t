# A '*' or '>' inside a longer token is a literal character: a*b only
# matches the subject a*b, and foo.b> only foo.b>.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> SUB a*b 1
a> SUB foo.b> 2
a> PUB axb 1
a> 0
a> PUB foo.bar 1
a> 1
a> PUB a*b 1
a> 2
a< MSG a*b 1 1
a< 2
a> PUB foo.b> 1
a> 3
a< MSG foo.b> 2 1
a< 3
a> PING
a< PONG
