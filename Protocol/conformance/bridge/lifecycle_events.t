# Job transitions are published on $JOB.<queue>.<event> with a per-queue sequence number.
! docket-only
w~ INFO \{.*\} ?
w> CONNECT {"verbose":false,"pedantic":false}
w> SUB $JOB.mail.> 1
w> PING
w< PONG
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ mail 1
a> x
a< +OK 1
a> RESERVE mail
a~ JOB 1 mail 1 lease=\d+ delivery=\d+ 1
a< x
a> ACK 1
a< +OK
w~ MSG \$JOB\.mail\.enqueued 1 \d+
w~ \{"seq":1,"event":"enqueued","id":1,"queue":"mail","attempt":0,.*"state":"waiting".*\}
w~ MSG \$JOB\.mail\.started 1 \d+
w~ \{"seq":2,"event":"started","id":1,.*"attempt":1,.*"state":"active",.*"wait_ms":\d+\}
w~ MSG \$JOB\.mail\.completed 1 \d+
w~ \{"seq":3,"event":"completed","id":1,.*"state":"completed",.*"result_bytes":0\}
