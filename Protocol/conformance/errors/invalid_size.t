# Sizes must be non-negative decimal numbers, and an HPUB header size may
# not exceed its total size. (nats-server closes such connections without
# an -ERR line.)
! docket-only
a~ INFO \{.*\} ?
a> PUB foo x
a~ -ERR 'Invalid Protocol: .*'
a! eof
b~ INFO \{.*\} ?
b> PUB foo -1
b~ -ERR 'Invalid Protocol: .*'
b! eof
c~ INFO \{.*\} ?
c> CONNECT {"verbose":false,"pedantic":false,"headers":true}
c> HPUB foo 1x 20
c~ -ERR 'Invalid Protocol: .*'
c! eof
d~ INFO \{.*\} ?
d> CONNECT {"verbose":false,"pedantic":false,"headers":true}
d> HPUB foo 14 12
d~ -ERR 'Invalid Protocol: .*'
d! eof
