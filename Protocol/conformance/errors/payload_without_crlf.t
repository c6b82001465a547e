# The payload must be followed by CRLF. (nats-server answers this with
# -ERR 'Unknown Protocol Operation'; docketd reports a protocol error.)
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a>> PUB foo 2\r\nhiXY
a~ -ERR 'Invalid Protocol: .*'
a! eof
