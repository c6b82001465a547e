# HPUB from a header-enabled connection reaches header-enabled
# subscribers as HMSG with the same header block and payload.
# NATS/1.0\r\nK: V\r\n\r\n is 18 bytes; with "hello" the total is 23.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"headers":true}
a> SUB foo 1
a> PING
a< PONG
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false,"headers":true}
b>> HPUB foo 18 23\r\nNATS/1.0\r\nK: V\r\n\r\nhello\r\n
b> PING
b< PONG
a< HMSG foo 1 18 23
a< NATS/1.0
a< K: V
a<
a< hello
# A plain PUB reaches the same header-enabled subscriber as a plain MSG.
b> PUB foo 2
b> hi
b> PING
b< PONG
a< MSG foo 1 2
a< hi
a> PING
a< PONG
