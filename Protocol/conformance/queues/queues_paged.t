# QUEUES answers one page of the queues, by name: up to limit= (1 to 1000,
# default 1000) of those after after= (any name, a queue's or not), stopping
# early at max_payload (the first always). An empty page is the end; the
# same arguments go in Docket-Options through $DOCKET.API.QUEUES.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"headers":true}
a> QUEUE b attempts=4
a< +OK
a> QUEUE a attempts=4
a< +OK
a> QUEUE c attempts=4
a< +OK
a> QUEUES
a~ JSON \d+
a~ \[\{"queue":"a",.*\},\{"queue":"b",.*\},\{"queue":"c",.*\}\]
a> QUEUES limit=2
a~ JSON \d+
a~ \[\{"queue":"a",.*\},\{"queue":"b",.*\}\]
a> QUEUES after=b limit=2
a~ JSON \d+
a~ \[\{"queue":"c",.*\}\]
a> QUEUES after=c
a< JSON 2
a< []
a> QUEUES after=aa
a~ JSON \d+
a~ \[\{"queue":"b",.*\},\{"queue":"c",.*\}\]
a> QUEUES limit=0
a< -ERR 'BAD_OPTION limit=0: QUEUES takes [after=<name>] [limit=1-1000], each once'
a> QUEUES first
a< -ERR 'BAD_OPTION first: QUEUES takes [after=<name>] [limit=1-1000], each once'
a> SUB _INBOX.r 1
a> HPUB $DOCKET.API.QUEUES _INBOX.r 45 45
a> NATS/1.0\r\nDocket-Options: after=a limit=1\r\n\r\n
a~ MSG _INBOX\.r 1 \d+
a~ \[\{"queue":"b",.*\}\]
