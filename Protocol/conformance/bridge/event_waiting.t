# A delayed job that becomes due publishes $JOB.<queue>.waiting (a delay=, an at=, or a retry's
# backoff running out), and so does one moved by PROMOTE. On either store.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false}
a> SUB $JOB.q.waiting 1
a> ENQ q delay=200ms 1
a> x
a< +OK 1
a~ MSG \$JOB\.q\.waiting 1 \d+
a~ \{"seq":2,"event":"waiting","id":1,"queue":"q","attempt":0,"max_attempts":3,"state":"waiting","at":\d+\}
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a> FAIL 1 retry=200ms
a< +OK retry 200
a~ MSG \$JOB\.q\.waiting 1 \d+
a~ \{"seq":5,"event":"waiting","id":1,"queue":"q","attempt":1,.*"state":"waiting",.*\}
a> ENQ q delay=1h 1
a> y
a< +OK 2
a> PROMOTE 2
a< +OK
a~ MSG \$JOB\.q\.waiting 1 \d+
a~ \{"seq":7,"event":"waiting","id":2,"queue":"q","attempt":0,.*\}
