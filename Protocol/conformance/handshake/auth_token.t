# With --auth, INFO says auth_required and the first command must be a CONNECT
# carrying auth_token; then everything works as usual (nats-server's --auth).
! docket-only
! flags: --auth s3cret
a~ INFO \{.*"auth_required":true.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"auth_token":"s3cret"}
a> PING
a< PONG
