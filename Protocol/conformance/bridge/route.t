# A route turns a published message into a job; the publisher's reply subject gets the job ids.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ROUTE orders.* invoices attempts=5
a< +OK 1
a> SUB _INBOX.x 1
a> PUB orders.created _INBOX.x 5
a> hello
a< MSG _INBOX.x 1 12
a< {"jobs":[1]}
a> RESERVE invoices timeout=0
a~ JOB 1 invoices 1 lease=\d+ delivery=\d+ 5
a< hello
a> PUB unrelated 1
a> y
a> RESERVE invoices timeout=0
a< NOJOB
a> ROUTES
a~ JSON \d+
a< [{"id":1,"pattern":"orders.*","queue":"invoices","rule":"orders.* invoices attempts=5"}]
a> UNROUTE 1
a< +OK
a> UNROUTE 1
a~ -ERR 'NOT_FOUND .*'
a> ROUTE $JOB.> audit
a~ -ERR 'BAD_OPTION .*'
a> ROUTE orders.* invoices key=k
a~ -ERR 'BAD_OPTION .*'
