# A control line may end with a bare LF; the server still answers with
# CRLF-terminated lines.
a~ INFO \{.*\} ?
a>> PING\n
a< PONG
a>> CONNECT {"verbose":false,"pedantic":false}\n
a>> SUB foo 1\n
a>> PUB foo 2\nhi\r\n
a< MSG foo 1 2
a< hi
a>> UNSUB 1\n
a>> PING\n
a< PONG
