# CONNECT with malformed JSON is fatal.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {bad
a~ -ERR 'Invalid Protocol: .*'
a! eof
