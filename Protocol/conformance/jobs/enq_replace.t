# ENQ key=… replace=true (debounce): a duplicate of a job still waiting or delayed replaces its
# payload and its run time, and is answered +OK <id> replaced; once the job has started, it is
# a plain duplicate.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q key=user-7 delay=1h 5
a> first
a< +OK 1
a> ENQ q key=user-7 delay=1h replace=true 6
a> second
a< +OK 1 replaced
a> INSPECT 1
a~ JSON \d+
a~ \{"id":1,.*"state":"delayed",.*"payload_bytes":6,.*\}
# Without a delay the job runs now, with the last payload.
a> ENQ q key=user-7 replace=true 5
a> third
a< +OK 1 replaced
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 5
a< third
a> ENQ q key=user-7 replace=true 6
a> fourth
a< +OK 1 duplicate
a> ENQ q key=other replace=true 1
a> x
a~ \+OK \d+
a> ENQ q replace=true 1
a> x
a< -ERR 'BAD_OPTION key_ttl= and replace= go with key='
a> ENQ q key=k replace=yes 1
a> x
a~ -ERR 'BAD_OPTION replace=yes: replace takes only true, once'
a> ROUTE a.b q replace=true
a~ -ERR 'BAD_OPTION a route cannot fix .*'
a> PING
a< PONG
