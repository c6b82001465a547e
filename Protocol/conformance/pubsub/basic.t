# A message published on one connection reaches every connection with a
# matching subscription, and no other.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> SUB news 1
a> PING
a< PONG
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> SUB news 7
b> PING
b< PONG
c~ INFO \{.*\} ?
c> CONNECT {"verbose":false,"pedantic":false}
c> SUB other 1
c> PUB news 5
c> hello
c> PING
c< PONG
a< MSG news 1 5
a< hello
b< MSG news 7 5
b< hello
a> PING
a< PONG
