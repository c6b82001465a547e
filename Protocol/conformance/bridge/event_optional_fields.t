# An event's extra field with nothing to say is left out: `error` when a
# FAIL or throttle came without a reason (and on the dead event of such a
# job), `retry_in_ms` when `next` is dead. `attempt` counts the attempts the
# job has used after the transition, so a throttle shows its attempt given back.
! docket-only
w~ INFO \{.*\} ?
w> CONNECT {"verbose":false,"pedantic":false}
w> SUB $JOB.q.> 1
w> PING
w< PONG
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q 1
a> x
a< +OK 1
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a> FAIL 1 retry=0
a< +OK retry 0
a> RESERVE q timeout=0
a~ JOB 1 q 2 lease=\d+ delivery=\d+ 1
a< x
a> FAIL 1 throttle=1ms
a< +OK throttled 1
a> RESERVE q timeout=1s
a~ JOB 1 q 2 lease=\d+ delivery=\d+ 1
a< x
a> FAIL 1 retry=no
a< +OK dead
w~ MSG \$JOB\.q\.enqueued 1 \d+
w~ \{"seq":1,"event":"enqueued",.*\}
w~ MSG \$JOB\.q\.started 1 \d+
w~ \{"seq":2,"event":"started",.*\}
w~ MSG \$JOB\.q\.failed 1 \d+
w~ \{"seq":3,"event":"failed","id":1,"queue":"q","attempt":1,(?!.*"error")(?=.*"next":"retry")(?=.*"retry_in_ms":0[,}])(?=.*"run_ms":\d+[,}]).*\}
w~ MSG \$JOB\.q\.started 1 \d+
w~ \{"seq":4,"event":"started","id":1,"queue":"q","attempt":2,.*\}
w~ MSG \$JOB\.q\.throttled 1 \d+
w~ \{"seq":5,"event":"throttled","id":1,"queue":"q","attempt":1,(?!.*"error")(?=.*"state":"waiting")(?=.*"retry_in_ms":1[,}])(?=.*"run_ms":\d+[,}]).*\}
w~ MSG \$JOB\.q\.started 1 \d+
w~ \{"seq":6,"event":"started","id":1,"queue":"q","attempt":2,.*\}
w~ MSG \$JOB\.q\.failed 1 \d+
w~ \{"seq":7,"event":"failed","id":1,"queue":"q","attempt":2,(?!.*"error")(?!.*"retry_in_ms")(?=.*"next":"dead")(?=.*"run_ms":\d+[,}]).*\}
w~ MSG \$JOB\.q\.dead 1 \d+
w~ \{"seq":8,"event":"dead","id":1,"queue":"q","attempt":2,"max_attempts":3,"state":"dead","at":\d+\}
