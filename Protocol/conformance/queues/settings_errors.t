# Bad settings are BAD_OPTION; none returns a setting to its default; settings survive in QUEUE.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> QUEUE q rate=fast
a~ -ERR 'BAD_OPTION .*'
a> QUEUE q colour=blue
a~ -ERR 'BAD_OPTION .*'
a> QUEUE q concurrency=0
a~ -ERR 'BAD_OPTION .*'
a> QUEUE q rate=1/s rate=2/s
a~ -ERR 'BAD_OPTION .*'
a> QUEUE bad.name
a~ -ERR 'BAD_QUEUE .*'
a> QUEUE q rate=10/1s concurrency=4 attempts=9 lease=1m
a< +OK
a> QUEUE q
a~ JSON \d+
a~ \{"queue":"q","paused":false,"config":\{"rate":"10/1000ms","group_rate":null,"concurrency":4,"attempts":9,.*"lease_ms":60000,.*
a> QUEUE q rate=none concurrency=none
a< +OK
a> QUEUE q
a~ JSON \d+
a~ \{"queue":"q","paused":false,"config":\{"rate":null,"group_rate":null,"concurrency":null,"attempts":9,.*
a> STATS
a~ JSON \d+
a~ \{"server_id":"[A-Z0-9]+",.*"queues":1,.*
a> QUEUES
a~ JSON \d+
a~ \[\{"queue":"q",.*\}\]
