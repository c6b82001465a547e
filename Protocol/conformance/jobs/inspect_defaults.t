# A job enqueued without options has priority 0, max_attempts 3, a 30 s
# lease, no key, and runs now (state waiting).
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q 2
a> hi
a< +OK 1
a> INSPECT 1
a~ JSON \d+
a~ \{(?=.*"state":"waiting")(?=.*"priority":0[,}])(?=.*"attempts":0[,}])(?=.*"max_attempts":3[,}])(?=.*"lease_ms":30000[,}])(?=.*"key":null)(?=.*"payload_bytes":2[,}]).*\}
