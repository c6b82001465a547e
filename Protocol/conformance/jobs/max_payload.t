# --max-payload bounds every counted payload, job payloads included: an ENQ
# payload of exactly max_payload bytes is fine; an ENQ, ACK, FAIL or
# PROGRESS announcing more gets -ERR 'Maximum Payload Violation' on the
# control line, and the connection is closed (as for PUB).
! docket-only
! flags: --max-payload 8
a~ INFO \{.*"max_payload":8[,}].*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q 8
a> 12345678
a< +OK 1
a> ENQ q 9
a< -ERR 'Maximum Payload Violation'
a! eof
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> RESERVE q timeout=0
b~ JOB 1 q 1 lease=\d+ delivery=\d+ 8
b< 12345678
b> ACK 1 9
b< -ERR 'Maximum Payload Violation'
b! eof
c~ INFO \{.*\} ?
c> CONNECT {"verbose":false,"pedantic":false}
c> FAIL 1 9
c< -ERR 'Maximum Payload Violation'
c! eof
d~ INFO \{.*\} ?
d> CONNECT {"verbose":false,"pedantic":false}
d> PROGRESS 1 50 9
d< -ERR 'Maximum Payload Violation'
d! eof
# SCHEDULE's payload, and an ENQ inside a BATCH, are bounded the same way.
f~ INFO \{.*\} ?
f> CONNECT {"verbose":false,"pedantic":false}
f> SCHEDULE s q every=1h 9
f< -ERR 'Maximum Payload Violation'
f! eof
g~ INFO \{.*\} ?
g> CONNECT {"verbose":false,"pedantic":false}
g> BATCH 1
g> ENQ q 9
g< -ERR 'Maximum Payload Violation'
g! eof
