# SCHEDULE <name> <queue> cron="…"|every=<d> [tz=…] [catchup=…] [ENQ options] <#bytes> creates
# (or replaces) a schedule: each tick makes one job with the payload, keyed <name>@<tick>, and
# publishes $JOB.<queue>.scheduled with the schedule and the tick. SCHEDULES lists them with
# their next ticks; PAUSE/RESUME schedule=<name> and UNSCHEDULE <name> manage them.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> SUB $JOB.beat.scheduled 1
a> SCHEDULE pulse beat every=1s pri=3 4
a> ping
a< +OK
a> SCHEDULES
a~ JSON \d+
a~ \[\{"name":"pulse","queue":"beat","every_ms":1000,"catchup":"one","rule":"pulse beat every=1s pri=3","payload_bytes":4,"paused":false,"created_at":\d+,"last_tick":\d+,"next":\[\d+,\d+,\d+\]\}\]
a~ MSG \$JOB\.beat\.scheduled 1 \d+
a~ \{"seq":\d+,"event":"scheduled","id":1,"queue":"beat",.*"state":"waiting",.*"schedule":"pulse","tick":\d+\}
a> PAUSE schedule=pulse
a< +OK
a> RESERVE beat timeout=0
a~ JOB 1 beat 1 lease=\d+ delivery=\d+ 4
a< ping
a> INSPECT 1
a~ JSON \d+
a~ \{"id":1,"queue":"beat","state":"active","priority":3,.*"key":"pulse@\d+",.*\}
a> SCHEDULES
a~ JSON \d+
a~ \[\{"name":"pulse",.*"paused":true,.*"next":\[\]\}\]
a> SCHEDULE nightly reports cron="0 3 * * *" tz=Europe/Berlin catchup=none 0
a>
a< +OK
a> SCHEDULES
a~ JSON \d+
a~ \[\{"name":"nightly","queue":"reports","cron":"0 3 \* \* \*","tz":"Europe/Berlin","catchup":"none",.*\},\{"name":"pulse",.*\}\]
a> UNSCHEDULE pulse
a< +OK
a> UNSCHEDULE pulse
a< -ERR 'NOT_FOUND schedule pulse does not exist'
a> UNSCHEDULE nightly
a< +OK
a> SCHEDULES
a< JSON 2
a< []
