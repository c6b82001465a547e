# --max-batch and --max-batch-bytes: a bigger batch is still read to its end, then refused
# with LIMIT; nothing of it is enqueued, and the connection goes on.
! docket-only
! flags: --max-batch 2 --max-batch-bytes 8
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> BATCH 3
a> ENQ q 1
a> x
a> ENQ q 1
a> x
a> ENQ q 1
a> x
a< -ERR 'LIMIT a batch holds at most 2 ENQs (--max-batch)'
a> BATCH 2
a> ENQ q 5
a> 12345
a> ENQ q 5
a> 12345
a< -ERR 'LIMIT the batch holds more than 8 payload bytes (--max-batch-bytes)'
a> BATCH 2
a> ENQ q 4
a> 1234
a> ENQ q 4
a> 1234
a< +OK 1 2
a> QUEUE q
a~ JSON \d+
a~ \{"queue":"q",.*"jobs":\{"waiting":2,.*\}
