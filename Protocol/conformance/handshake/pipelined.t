# Several operations in one write, and one operation spread over many
# writes, are framed the same way.
a~ INFO \{.*\} ?
a>> CONNECT {"verbose":false,"pedantic":false}\r\nSUB foo 1\r\nPING\r\nPING\r\n
a< PONG
a< PONG
a>> PU
a>> B fo
a>> o 5\r
a>> \nhe
a>> llo\r
a>> \n
a< MSG foo 1 5
a< hello
a>> PUB foo 1\r\nx\r
a>> \nP
a>> ING\r\n
a< MSG foo 1 1
a< x
a< PONG
