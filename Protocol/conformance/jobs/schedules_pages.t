# SCHEDULES [after=<name>] [limit=<n>] answers one page of the schedules, by name: up to limit
# (1 to 1000, default 100) of those whose names come after `after`. The last name of a page is
# the next page's `after=`; an empty page is the end. Through $DOCKET.API the options go in
# Docket-Options.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"headers":true}
a> SCHEDULE c q every=1h 0
a>
a< +OK
a> SCHEDULE a q every=1h 0
a>
a< +OK
a> SCHEDULE b q every=1h 0
a>
a< +OK
a> SCHEDULES limit=2
a~ JSON \d+
a~ \[\{"name":"a",.*\},\{"name":"b",.*\}\]
a> SCHEDULES after=b limit=2
a~ JSON \d+
a~ \[\{"name":"c",.*\}\]
a> SCHEDULES after=c
a< JSON 2
a< []
# A name that is no schedule's is a place in the order all the same.
a> SCHEDULES after=aa
a~ JSON \d+
a~ \[\{"name":"b",.*\},\{"name":"c",.*\}\]
a> SCHEDULES limit=0
a< -ERR 'BAD_OPTION limit=0: SCHEDULES takes [after=<name>] [limit=1-1000], each once'
a> SCHEDULES after=a after=b
a< -ERR 'BAD_OPTION after=b: after is given more than once'
a> SUB _INBOX.r 1
a> HPUB $DOCKET.API.SCHEDULES _INBOX.r 45 45
a> NATS/1.0\r\nDocket-Options: after=a limit=1\r\n\r\n
a~ MSG _INBOX\.r 1 \d+
a~ \[\{"name":"b",.*\}\]
