# $JOB.<queue>.<event> needs the read right on the queue: a SUB naming another queue is refused,
# and a wildcard SUB gets the events of readable queues only. Nobody restricted may publish on $JOB.
! docket-only
! config: authorization { users = [ { user: worker, password: w1 }, { user: admin, password: a1 } ] }
! config: docket { permissions {
! config:   worker: { work: emails, read: emails }
! config:   admin: { enqueue: ">", work: ">", read: ">", admin: ">" }
! config: } }
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"user":"worker","pass":"w1"}
a> SUB $JOB.billing.> 1
a< -ERR 'Permissions Violation for Subscription to "$JOB.billing.>"'
a> SUB $JOB.*.enqueued 2
a> PUB $JOB.emails.completed 2
a> {}
a< -ERR 'Permissions Violation for Publish to "$JOB.emails.completed"'
a> PING
a< PONG
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false,"user":"admin","pass":"a1"}
b> ENQ billing 1
b> x
b< +OK 1
b> ENQ emails 1
b> y
b< +OK 2
a~ MSG \$JOB\.emails\.enqueued 2 \d+
a~ \{.*"id":2.*\}
a> PING
a< PONG
