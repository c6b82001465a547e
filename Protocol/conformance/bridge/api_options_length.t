# A $DOCKET.API request's arguments (its subject's tokens and its Docket-Options header) may take
# no more bytes than a control line (--max-control-line), as the same command on the wire: a
# header can be as long as a payload, and a SCHEDULE keeps its arguments. Past it: LIMIT.
! docket-only
! flags: --max-control-line 96
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"headers":true}
a> SUB _INBOX.r 1
a> HPUB $DOCKET.API.SCHEDULE.s.q _INBOX.r 46 47
a> NATS/1.0\r\nDocket-Options: cron="0 3 * * *"\r\n\r\nx
a< MSG _INBOX.r 1 11
a< {"ok":true}
a> HPUB $DOCKET.API.SCHEDULE.t.q _INBOX.r 124 125
a> NATS/1.0\r\nDocket-Options: cron="0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0 3 * * *"\r\n\r\nx
a~ MSG _INBOX.r 1 \d+
a~ \{"error":\{"code":"LIMIT","message":"the subject's arguments and Docket-Options take \d+ bytes; at most 96, as a control line \(--max-control-line\)"\}\}
a> PUB $DOCKET.API.SCHEDULES _INBOX.r 0
a>
a~ MSG _INBOX\.r 1 \d+
a~ \[\{"name":"s",.*\}\]
