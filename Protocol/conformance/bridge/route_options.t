# A route takes ENQ's options but those that fix one job: key= (and key_ttl=,
# replace=, which go with it), at=, expires=, after= (and on_parent_dead=)
# are refused, since each message makes a new job; delay= and ttl= count
# from each job's ENQ. A schedule refuses the same and delay= too.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ROUTE foo q key=k
a~ -ERR 'BAD_OPTION a route cannot fix .*'
a> ROUTE foo q key_ttl=1h
a~ -ERR 'BAD_OPTION a route cannot fix .*'
a> ROUTE foo q at=1
a~ -ERR 'BAD_OPTION a route cannot fix .*'
a> ROUTE foo q expires=1
a~ -ERR 'BAD_OPTION a route cannot fix .*'
a> ROUTE foo q after=1
a~ -ERR 'BAD_OPTION a route cannot fix .*'
a> ROUTE foo q on_parent_dead=run
a~ -ERR 'BAD_OPTION a route cannot fix .*'
a> ROUTES
a< JSON 2
a< []
a> ROUTE foo q delay=1h ttl=2h pri=5
a< +OK 1
b~ INFO \{.*\} ?
b> CONNECT {"verbose":true,"pedantic":false}
b< +OK
b> PUB foo 2
b> hi
b< +OK
a> LIST q state=delayed
a~ JSON \d+
a~ \{"queue":"q","state":"delayed","jobs":\[\{(?=.*"priority":5[,}])(?=.*"expires_at":[1-9]\d{11,}[,}]).*\}\],"next":null\}
a> SCHEDULE s q every=1h expires=1 0
a>
a~ -ERR 'BAD_OPTION a schedule cannot fix .*'
a> SCHEDULE s q every=1h after=1 0
a>
a~ -ERR 'BAD_OPTION a schedule cannot fix .*'
a> SCHEDULE s q every=1h replace=true 0
a>
a~ -ERR 'BAD_OPTION .*'
a> SCHEDULE s q every=1h ttl=1h 0
a>
a< +OK
