# UNROUTE takes exactly one route id: anything else is refused, in words about routes.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false}
a> UNROUTE abc
a< -ERR 'BAD_ID route ids are positive numbers'
a> UNROUTE 1 extra
a< -ERR 'BAD_OPTION extra: UNROUTE takes only a route id'
a> UNROUTE 7
a< -ERR 'NOT_FOUND route 7 does not exist'
