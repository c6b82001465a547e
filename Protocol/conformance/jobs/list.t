# LIST <queue> [state=…] [after=<cursor>] [limit=<n>] answers one page of a queue's jobs in one
# state as JSON: waiting jobs in the order they run (priority, then when they became runnable,
# then their place in line: see back_in_line.t), delayed by run time, finished ones newest first;
# "next" is the cursor of the next page, null on the last one. The default state is waiting, the
# default limit 100.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q 1
a> a
a< +OK 1
a> ENQ q pri=-5 1
a> b
a< +OK 2
a> ENQ q 1
a> c
a< +OK 3
a> ENQ q delay=1h 1
a> d
a< +OK 4
a> LIST q limit=2
a~ JSON \d+
a~ \{"queue":"q","state":"waiting","jobs":\[\{"id":2,.*"state":"waiting","priority":-5,.*\},\{"id":1,.*\}\],"next":"[^"]+"\}
a> LIST q
a~ JSON \d+
a~ \{"queue":"q","state":"waiting","jobs":\[\{"id":2,.*\},\{"id":1,.*\},\{"id":3,.*"payload_bytes":1,"expires_at":null\}\],"next":null\}
a> LIST q state=delayed
a~ JSON \d+
a~ \{"queue":"q","state":"delayed","jobs":\[\{"id":4,.*"state":"delayed",.*\}\],"next":null\}
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 1
a< b
a> LIST q state=active
a~ JSON \d+
a~ \{"queue":"q","state":"active","jobs":\[\{"id":2,.*"state":"active",.*\}\],"next":null\}
a> ACK 2
a< +OK
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< a
a> ACK 1
a< +OK
# Newest first: by finish time, then id (both finished in the same millisecond, often).
a> LIST q state=completed
a~ JSON \d+
a~ \{"queue":"q","state":"completed","jobs":\[\{"id":(1|2),.*"state":"completed".*\},\{"id":(1|2),.*\}\],"next":null\}
a> LIST nothing-here state=dead
a~ JSON \d+
a< {"queue":"nothing-here","state":"dead","jobs":[],"next":null}
a> LIST q state=stuck
a~ -ERR 'BAD_OPTION state=stuck: LIST takes .*'
a> LIST q limit=0
a~ -ERR 'BAD_OPTION limit=0: .*'
a> LIST q limit=1001
a~ -ERR 'BAD_OPTION limit=1001: .*'
a> LIST q after=nonsense
a~ -ERR 'BAD_OPTION after=nonsense: .*'
a> LIST
a~ -ERR 'BAD_QUEUE .*'
a> PING
a< PONG
