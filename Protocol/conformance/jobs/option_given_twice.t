# An option given twice is BAD_OPTION saying `<option> is given more than
# once` (the job error codes table), on every verb that takes options, not
# only ENQ, ROUTE, RESERVE and WAIT (bad_option_enq.t, bad_option_verbs.t):
# ACK, TOUCH, PROGRESS, FAIL, LIST, CHILDREN, DEAD, PURGE, SCHEDULES, QUEUES, QUEUE
# settings and SCHEDULE's own options; the second value is named even when it
# would be fine alone. Nothing changes: the held job is still held.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q 1
a> x
a< +OK 1
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a> ACK 1 attempt=1 attempt=1
a< -ERR 'BAD_OPTION attempt=1: attempt is given more than once'
a> TOUCH 1 attempt=1 attempt=2
a< -ERR 'BAD_OPTION attempt=2: attempt is given more than once'
a> PROGRESS 1 50 attempt=1 attempt=1
a< -ERR 'BAD_OPTION attempt=1: attempt is given more than once'
a> FAIL 1 attempt=1 attempt=1
a< -ERR 'BAD_OPTION attempt=1: attempt is given more than once'
a> FAIL 1 retry=1s retry=2s
a< -ERR 'BAD_OPTION retry=2s: retry is given more than once'
a> FAIL 1 throttle=1s throttle=1s
a< -ERR 'BAD_OPTION throttle=1s: throttle is given more than once'
a> FAIL 1 throttle=1s scope=queue scope=group
a< -ERR 'BAD_OPTION scope=group: scope is given more than once'
a> LIST q state=dead state=dead
a< -ERR 'BAD_OPTION state=dead: state is given more than once'
a> LIST q limit=1 limit=2
a< -ERR 'BAD_OPTION limit=2: limit is given more than once'
a> LIST q after=1.1.1 after=1.1.1
a< -ERR 'BAD_OPTION after=1.1.1: after is given more than once'
a> CHILDREN 1 after=1 after=2
a< -ERR 'BAD_OPTION after=2: after is given more than once'
a> CHILDREN 1 limit=1 limit=1
a< -ERR 'BAD_OPTION limit=1: limit is given more than once'
a> DEAD q limit=1 limit=1
a< -ERR 'BAD_OPTION limit=1: limit is given more than once'
a> PURGE q state=dead state=dead
a< -ERR 'BAD_OPTION state=dead: state is given more than once'
a> PURGE q state=dead older=1s older=1s
a< -ERR 'BAD_OPTION older=1s: older is given more than once'
a> SCHEDULES limit=1 limit=1
a< -ERR 'BAD_OPTION limit=1: limit is given more than once'
a> SCHEDULES after=a after=b
a< -ERR 'BAD_OPTION after=b: after is given more than once'
a> QUEUES limit=1 limit=1
a< -ERR 'BAD_OPTION limit=1: limit is given more than once'
a> QUEUE q rate=1/s rate=2/s
a< -ERR 'BAD_OPTION rate=2/s: rate is given more than once'
a> QUEUE q keep_dead=1 keep_dead=none
a< -ERR 'BAD_OPTION keep_dead=none: keep_dead is given more than once'
a> SCHEDULE s q every=1h every=1h 0
a>
a< -ERR 'BAD_OPTION every=1h: every is given more than once'
a> SCHEDULE s q cron="0 * * * *" cron="0 * * * *" 0
a>
a< -ERR 'BAD_OPTION cron="0 * * * *": cron is given more than once'
a> SCHEDULE s q every=1h tz=UTC tz=UTC 0
a>
a< -ERR 'BAD_OPTION tz=UTC: tz is given more than once'
a> SCHEDULE s q every=1h catchup=one catchup=all 0
a>
a< -ERR 'BAD_OPTION catchup=all: catchup is given more than once'
# A cron= after an every= is a conflict, not a repeat.
a> SCHEDULE s q every=1h cron="0 * * * *" 0
a>
a< -ERR 'BAD_OPTION cron="0 * * * *": one cron= or every= per schedule'
a> SCHEDULES
a< JSON 2
a< []
a> INSPECT 1
a~ JSON \d+
a~ \{(?=.*"state":"active")(?=.*"attempts":1[,}]).*\}
a> ACK 1 attempt=1
a< +OK
