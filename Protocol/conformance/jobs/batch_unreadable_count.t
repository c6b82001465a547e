# A BATCH line whose count cannot be read closes the connection with
# Invalid Protocol, whatever is wrong with it: no count, zero (batch.t), a
# count that is not decimal digits, more than 10 digits, or a second
# argument. The ENQs behind it could not be told from lone ones.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> BATCH
a~ -ERR 'Invalid Protocol: BATCH needs a count from 1: .*'
a! eof
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> BATCH two
b~ -ERR 'Invalid Protocol: BATCH needs a count from 1: .*'
b! eof
c~ INFO \{.*\} ?
c> CONNECT {"verbose":false,"pedantic":false}
c> BATCH 10000000000
c~ -ERR 'Invalid Protocol: BATCH needs a count from 1: .*'
c! eof
d~ INFO \{.*\} ?
d> CONNECT {"verbose":false,"pedantic":false}
d> BATCH 1 x
d~ -ERR 'Invalid Protocol: BATCH needs a count from 1: .*'
d! eof
e~ INFO \{.*\} ?
e> CONNECT {"verbose":false,"pedantic":false}
e> BATCH +1
e~ -ERR 'Invalid Protocol: BATCH needs a count from 1: .*'
e! eof
