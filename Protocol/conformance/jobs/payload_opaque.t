# A job payload is counted bytes and never interpreted: an empty payload
# and one holding CR, LF and NUL come back from RESERVE byte for byte.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q 0
a>
a~ \+OK \d+
a>> ENQ q 6\r\na\r\nb\x00c\r\n
a~ \+OK \d+
a> RESERVE q timeout=0
a~ JOB \d+ q 1 lease=\d+ delivery=\d+ 0
a<
a> RESERVE q timeout=0
a~ JOB \d+ q 1 lease=\d+ delivery=\d+ 6
a< a
a< b\x00c
a> PING
a< PONG
