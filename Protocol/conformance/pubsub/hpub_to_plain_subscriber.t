# A subscriber that did not negotiate headers gets a plain MSG: the
# header block is stripped and only the payload size remains.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> SUB foo 1
a> PING
a< PONG
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false,"headers":true}
b>> HPUB foo r 18 23\r\nNATS/1.0\r\nK: V\r\n\r\nhello\r\n
b> PING
b< PONG
a< MSG foo 1 r 5
a< hello
a> PING
a< PONG
