# INSPECT <id> answers JSON <#bytes> and one job document with every field
# of the spec: id, queue, state, priority, attempts, max_attempts, backoff,
# lease_ms, key, enqueued_at, run_at, started_at, finished_at, progress,
# progress_note, last_error, result, payload_bytes. Times are unix
# milliseconds or null.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ mail pri=3 attempts=5 lease=250ms key=k1 5
a> hello
a< +OK 1
a> INSPECT 1
a~ JSON [1-9][0-9]*
a~ \{(?=.*"id":1[,}])(?=.*"queue":"mail")(?=.*"state":"waiting")(?=.*"priority":3[,}])(?=.*"attempts":0[,}])(?=.*"max_attempts":5[,}])(?=.*"backoff":)(?=.*"lease_ms":250[,}])(?=.*"key":"k1")(?=.*"enqueued_at":[1-9][0-9]{11,}[,}])(?=.*"run_at":[1-9][0-9]{11,}[,}])(?=.*"started_at":null)(?=.*"finished_at":null)(?=.*"progress":)(?=.*"progress_note":)(?=.*"last_error":)(?=.*"result":null)(?=.*"payload_bytes":5[,}]).*\}
a> RESERVE mail timeout=0
a~ JOB 1 mail 1 lease=\d+ delivery=\d+ 5
a< hello
a> INSPECT 1
a~ JSON [1-9][0-9]*
a~ \{(?=.*"state":"active")(?=.*"attempts":1[,}])(?=.*"started_at":[1-9][0-9]{11,}[,}])(?=.*"finished_at":null).*\}
a> ACK 1
a< +OK
a> INSPECT 1
a~ JSON [1-9][0-9]*
a~ \{(?=.*"state":"completed")(?=.*"attempts":1[,}])(?=.*"finished_at":[1-9][0-9]{11,}[,}]).*\}
