# RESERVE with a timeout waits that long for a job, then answers NOJOB.
# While it waits the server reads no further command from that connection,
# so the PONG comes after the NOJOB.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> RESERVE q timeout=100ms
a> PING
a< NOJOB
a< PONG
