# SCHEDULE, UNSCHEDULE and SCHEDULES through $DOCKET.API: the schedule's name and queue in the
# subject, its timing and ENQ options in the Docket-Options header, the payload as the body;
# PAUSE and RESUME take schedule=<name> in Docket-Options.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"headers":true}
a> SUB _INBOX.r 1
a> HPUB $DOCKET.API.SCHEDULE.nightly.reports _INBOX.r 59 65
a> NATS/1.0\r\nDocket-Options: cron="0 3 * * *" tz=UTC pri=2\r\n\r\nreport
a< MSG _INBOX.r 1 11
a< {"ok":true}
a> PUB $DOCKET.API.SCHEDULES _INBOX.r 0
a>
a~ MSG _INBOX\.r 1 \d+
a~ \[\{"name":"nightly","queue":"reports","cron":"0 3 \* \* \*","tz":"UTC","catchup":"one","rule":"nightly reports cron=\\"0 3 \* \* \*\\" tz=UTC pri=2","payload_bytes":6,"paused":false,.*\}\]
a> HPUB $DOCKET.API.PAUSE _INBOX.r 46 46
a> NATS/1.0\r\nDocket-Options: schedule=nightly\r\n\r\n
a< MSG _INBOX.r 1 11
a< {"ok":true}
a> PUB $DOCKET.API.SCHEDULES _INBOX.r 0
a>
a~ MSG _INBOX\.r 1 \d+
a~ \[\{"name":"nightly",.*"paused":true,"created_at":\d+,"last_tick":\d+,"next":\[\]\}\]
a> PUB $DOCKET.API.UNSCHEDULE.nightly _INBOX.r 0
a>
a< MSG _INBOX.r 1 11
a< {"ok":true}
a> PUB $DOCKET.API.UNSCHEDULE.nightly _INBOX.r 0
a>
a~ MSG _INBOX\.r 1 \d+
a< {"error":{"code":"NOT_FOUND","message":"schedule nightly does not exist"}}
a> HPUB $DOCKET.API.SCHEDULE.bad.reports _INBOX.r 36 36
a> NATS/1.0\r\nDocket-Options: key=k1\r\n\r\n
a~ MSG _INBOX\.r 1 \d+
a~ \{"error":\{"code":"BAD_OPTION","message":".*"\}\}
