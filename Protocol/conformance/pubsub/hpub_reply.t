# HPUB with a reply-to: the HMSG carries it before the two sizes. An
# empty payload is allowed (total equals header size).
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"headers":true}
a> SUB foo 1
a>> hpub foo rep.1 18 20\r\nNATS/1.0\r\nK: V\r\n\r\nhi\r\n
a< HMSG foo 1 rep.1 18 20
a< NATS/1.0
a< K: V
a<
a< hi
a>> HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n
a< HMSG foo 1 12 12
a< NATS/1.0
a<
a<
a> PING
a< PONG
