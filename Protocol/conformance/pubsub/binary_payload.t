# Payloads are opaque bytes: CRLF, NUL, high bytes and text that looks
# like protocol are delivered unchanged and never parsed.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> SUB foo 1
a>> PUB foo 12\r\nPING\r\n\x00\xff\r\n\r\n\r\n
a>> PING\r\n
a< MSG foo 1 12
a< PING
a< \x00\xff
a<
a<
a< PONG
