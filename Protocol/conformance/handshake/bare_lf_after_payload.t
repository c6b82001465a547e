# A payload may also end with a bare LF, as a control line may: a person typing
# into `nc` (which sends LF) can publish and enqueue. Clients send CRLF.
! docket-only
a~ INFO \{.*\} ?
a>> CONNECT {"verbose":false,"pedantic":false}\n
a>> SUB foo 1\n
a>> PUB foo 2\nhi\n
a< MSG foo 1 2
a< hi
a>> ENQ typed 5\nhello\n
a~ \+OK \d+
a>> PING\n
a< PONG
