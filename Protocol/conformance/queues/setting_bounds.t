# Each queue setting at its documented bounds: the largest accepted, and one
# past each end refused with BAD_OPTION (nothing changed). The config reads
# rates as <n>/<ms>ms, the backoff as exp:<ms>ms:<ms>ms, the lease as lease_ms.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> QUEUE q concurrency=100000 rate=1000000/s group_rate=1/366d keep_completed=2147483647 keep_dead=0 attempts=1000 lease=366d jitter=1 backoff=exp:1ms:366d
a< +OK
a> QUEUE q
a~ JSON \d+
a~ \{"queue":"q","paused":false,"config":\{"rate":"1000000/1000ms","group_rate":"1/31622400000ms","concurrency":100000,"attempts":1000,"backoff":"exp:1ms:31622400000ms","jitter":1\.0,"lease_ms":31622400000,"keep_completed":2147483647,"keep_dead":0\},.*\}
a> QUEUE q concurrency=0
a< -ERR 'BAD_OPTION concurrency=0: concurrency is 1 to 100000 or none'
a> QUEUE q concurrency=100001
a< -ERR 'BAD_OPTION concurrency=100001: concurrency is 1 to 100000 or none'
a> QUEUE q rate=0/s
a~ -ERR 'BAD_OPTION rate=0/s: .*'
a> QUEUE q rate=1000001/s
a~ -ERR 'BAD_OPTION rate=1000001/s: .*'
a> QUEUE q rate=1/0s
a~ -ERR 'BAD_OPTION rate=1/0s: .*'
a> QUEUE q group_rate=1/367d
a~ -ERR 'BAD_OPTION group_rate=1/367d: .*'
a> QUEUE q rate=5
a~ -ERR 'BAD_OPTION rate=5: .*'
a> QUEUE q keep_completed=2147483648
a< -ERR 'BAD_OPTION keep_completed=2147483648: keep_completed is 0 to 2147483647 or none'
a> QUEUE q attempts=0
a< -ERR 'BAD_OPTION attempts=0: attempts is 1 to 1000 or none'
a> QUEUE q attempts=1001
a< -ERR 'BAD_OPTION attempts=1001: attempts is 1 to 1000 or none'
a> QUEUE q lease=0ms
a< -ERR 'BAD_OPTION lease=0ms: lease is a positive duration or none'
a> QUEUE q lease=367d
a< -ERR 'BAD_OPTION lease=367d: lease is a positive duration or none'
a> QUEUE q jitter=1.01
a< -ERR 'BAD_OPTION jitter=1.01: jitter is 0 to 1 or none'
a> QUEUE q backoff=exp:0s
a~ -ERR 'BAD_OPTION backoff=exp:0s: .*'
a> QUEUE q
a~ JSON \d+
a~ \{"queue":"q","paused":false,"config":\{"rate":"1000000/1000ms","group_rate":"1/31622400000ms","concurrency":100000,"attempts":1000,.*\}
