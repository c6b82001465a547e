# A zero-length payload is still followed by CRLF, on the way in and out.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> SUB foo 1
a> PUB foo 0
a>
a< MSG foo 1 0
a<
a> PUB foo r 0
a>
a< MSG foo 1 r 0
a<
a> PING
a< PONG
