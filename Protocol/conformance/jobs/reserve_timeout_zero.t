# RESERVE with timeout=0 does not wait: on an empty (or unknown) queue it
# answers NOJOB at once, and the connection goes on.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> RESERVE nothing timeout=0
a< NOJOB
a> RESERVE nothing,else timeout=0
a< NOJOB
a> PING
a< PONG
