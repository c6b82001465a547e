# $DOCKET.API subjects carry the verb's arguments as tokens: a RESERVE names its queues one per
# token (as RESERVE's comma-separated list), and a verb given more or fewer tokens than it takes
# is refused with BAD_OPTION rather than read as options.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"headers":true}
a> SUB _INBOX.r 1
a> ENQ qb 3
a> two
a< +OK 1
a> PUB $DOCKET.API.RESERVE.qa.qb _INBOX.r 0
a>
a~ HMSG _INBOX.r 1 \d+ \d+
a< NATS/1.0
a< Docket-Job-Id: 1
a< Docket-Queue: qb
a< Docket-Attempt: 1
a< Docket-Lease-Ms: 30000
a~ Docket-Delivery: \d+
a<
a< two
a> PUB $DOCKET.API.ENQ.qa.extra _INBOX.r 1
a> x
a~ MSG _INBOX.r 1 \d+
a< {"error":{"code":"BAD_OPTION","message":"$DOCKET.API.ENQ takes <queue> after ENQ, not 2 token(s)"}}
a> PUB $DOCKET.API.PROGRESS.1 _INBOX.r 0
a>
a~ MSG _INBOX.r 1 \d+
a< {"error":{"code":"BAD_OPTION","message":"$DOCKET.API.PROGRESS takes <id>.<percent> after PROGRESS, not 1 token(s)"}}
a> PUB $DOCKET.API.STATS.x _INBOX.r 0
a>
a~ MSG _INBOX.r 1 \d+
a< {"error":{"code":"BAD_OPTION","message":"$DOCKET.API.STATS takes nothing after STATS, not 1 token(s)"}}
a> PUB $DOCKET.API.PROGRESS.1.50 _INBOX.r 0
a>
a~ MSG _INBOX.r 1 \d+
a< {"ok":true}
