# --max-routes bounds how many routes may exist: one more is refused with LIMIT (every publish
# is matched against them and makes a job per match), while removing one makes room again.
! docket-only
! flags: --max-routes 2
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ROUTE orders.* invoices
a~ \+OK \d+
a> ROUTE orders.> audit
a~ \+OK \d+
a> ROUTE > everything
a< -ERR 'LIMIT there are 2 routes already (--max-routes)'
a> ROUTES
a~ JSON \d+
a~ \[\{"id":(\d+),"pattern":"orders\.\*".*\},\{"id":\d+,"pattern":"orders\.>".*\}\]
a> UNROUTE 1
a< +OK
a> ROUTE > everything
a~ \+OK \d+
