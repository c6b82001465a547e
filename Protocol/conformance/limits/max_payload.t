# INFO advertises max_payload. A payload of exactly max_payload bytes is
# fine; a PUB that announces more is refused at once, before any payload
# is sent, and the connection is closed.
! flags: --max-payload 8
a~ INFO \{.*"max_payload":8[,}].*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> SUB foo 1
a> PUB foo 8
a> 12345678
a< MSG foo 1 8
a< 12345678
a> PUB foo 9
a< -ERR 'Maximum Payload Violation'
a! eof
# For HPUB the total size (headers plus payload) is what counts.
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false,"headers":true}
b> HPUB foo 4 9
b< -ERR 'Maximum Payload Violation'
b! eof
