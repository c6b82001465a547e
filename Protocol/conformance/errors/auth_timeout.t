# A client that sends no CONNECT within the auth timeout is closed with
# nats-server's text.
! docket-only
! flags: --auth s3cret --auth-timeout 200ms
a~ INFO \{.*"auth_required":true.*\} ?
a< -ERR 'Authentication Timeout'
a! eof
