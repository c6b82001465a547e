# Wrong or missing credentials, or any command before CONNECT, get
# nats-server's exact text and the close (clients match on it).
! docket-only
! flags: --user alice --pass wonder
a~ INFO \{.*"auth_required":true.*\} ?
a> CONNECT {"verbose":false,"user":"alice","pass":"guess"}
a< -ERR 'Authorization Violation'
a! eof
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false}
b< -ERR 'Authorization Violation'
b! eof
c~ INFO \{.*\} ?
c> PING
c< -ERR 'Authorization Violation'
c! eof
