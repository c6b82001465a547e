# A PUB the user's publish permissions do not allow gets nats-server's exact error, the message
# goes nowhere, and the connection stays open (nats-py and others keep it open on this text).
! docket-only
! config: authorization { users = [
! config:   { user: orders, password: o1, permissions: { publish: ["orders.>"] } }
! config: ] }
a~ INFO \{.*"auth_required":true.*\} ?
a> CONNECT {"verbose":true,"pedantic":false,"user":"orders","pass":"o1"}
a< +OK
a> SUB > 1
a< +OK
a> PUB other.subject 2
a> no
a< -ERR 'Permissions Violation for Publish to "other.subject"'
a> PUB orders.new 3
a> yes
a< +OK
a< MSG orders.new 1 3
a< yes
a> PING
a< PONG
