# Fields are separated by runs of spaces or tabs; trailing blanks on a
# control line are ignored. Output always uses single spaces.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> SUB\tfoo  \t 1
a> PUB \t foo\t\tbar   3
a> abc
a< MSG foo 1 bar 3
a< abc
a> SUB  baz\t2\x20\x20
a> PUB baz 1\t
a> z
a< MSG baz 2 1
a< z
a> PING\x20
a< PONG
