# SCHEDULE checks its cron expression, zone, interval and options before anything is kept.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> SCHEDULE s q cron="0 3 * *" 1
a> x
a~ -ERR 'BAD_OPTION expected 5 fields .*'
a> SCHEDULE s q cron="0 3 * * *" tz=Mars/Base 1
a> x
a~ -ERR 'BAD_OPTION unknown time zone .*Mars/Base.*'
a> SCHEDULE s q every=1m tz=UTC 1
a> x
a< -ERR 'BAD_OPTION tz= goes with cron=, not every='
a> SCHEDULE s q every=500ms 1
a> x
a~ -ERR 'BAD_OPTION every=500ms: every= needs a duration from 1s to 366d'
a> SCHEDULE s q cron=0 1
a> x
a~ -ERR 'BAD_OPTION cron=0: the cron expression goes in double quotes: .*'
a> SCHEDULE s q cron="" 1
a> x
a< -ERR 'BAD_OPTION cron="": cron= needs an expression of 5 or 6 fields, not an empty one'
a> SCHEDULE s q every=1m cron="* * * * *" 1
a> x
a~ -ERR 'BAD_OPTION cron=.*: one cron= or every= per schedule'
a> SCHEDULE s q catchup=some every=1m 1
a> x
a~ -ERR 'BAD_OPTION catchup=some: catchup= is none, one or all, once'
a> SCHEDULE s q pri=1 1
a> x
a~ -ERR 'BAD_OPTION SCHEDULE needs cron=.*'
a> SCHEDULE s q every=1m key=k 1
a> x
a~ -ERR 'BAD_OPTION a schedule cannot fix key=, at=, delay= or expires=.*'
a> SCHEDULE s/x q every=1m 1
a> x
a~ -ERR 'BAD_OPTION schedule names are .*'
a> PAUSE schedule=nope
a< -ERR 'NOT_FOUND schedule nope does not exist'
a> SCHEDULES now
a< -ERR 'BAD_OPTION now: SCHEDULES takes [after=<name>] [limit=1-1000], each once'
a> SCHEDULES
a< JSON 2
a< []
