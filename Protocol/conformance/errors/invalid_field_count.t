# A known op with the wrong number of fields is a fatal protocol error.
# (nats-server closes such connections without an -ERR line.)
! docket-only
a~ INFO \{.*\} ?
a> SUB foo
a~ -ERR 'Invalid Protocol: .*'
a! eof
b~ INFO \{.*\} ?
b> PUB foo bar baz 2
b~ -ERR 'Invalid Protocol: .*'
b! eof
c~ INFO \{.*\} ?
c> SUB foo q 1 extra
c~ -ERR 'Invalid Protocol: .*'
c! eof
