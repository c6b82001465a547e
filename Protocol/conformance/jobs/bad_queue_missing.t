# A missing queue name is BAD_QUEUE too (the connection stays open).
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> RESERVE
a~ -ERR 'BAD_QUEUE .*'
a> RESERVE timeout=0
a~ -ERR 'BAD_QUEUE .*'
a> DEAD
a~ -ERR 'BAD_QUEUE .*'
a> RETRY queue=
a~ -ERR 'BAD_QUEUE .*'
a> PING
a< PONG
