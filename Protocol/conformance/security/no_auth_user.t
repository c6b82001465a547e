# no_auth_user: a CONNECT without credentials acts as that user, with its permissions.
! docket-only
! config: authorization { users = [ { user: guest, password: g1 }, { user: admin, password: a1 } ] }
! config: no_auth_user: guest
! config: docket { permissions { guest: { read: ">" } } }
a~ INFO \{.*"auth_required":true.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ emails 1
a> x
a< -ERR 'FORBIDDEN user guest may not enqueue on queue emails'
a> QUEUES
a< JSON 2
a< []
