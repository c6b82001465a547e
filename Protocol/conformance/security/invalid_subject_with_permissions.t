# For a user whose permissions have an allow list, a subject with an empty token is allowed by
# none of it: SUB and PUB on one get the permissions violation (which keeps the connection, and
# which clients such as nats-py survive), not 'Invalid Subject'. A pedantic PUB gets both
# errors. Without an allow list the subject is simply invalid.
! config: authorization { users = [
! config:   { user: r, password: pw, permissions: { publish: ">", subscribe: ">" } }
! config:   { user: d, password: pw, permissions: { subscribe: { deny: "secret.>" } } }
! config: ] }
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"user":"r","pass":"pw"}
a> SUB foo..bar 1
a< -ERR 'Permissions Violation for Subscription to "foo..bar"'
a> SUB .foo 2
a< -ERR 'Permissions Violation for Subscription to ".foo"'
a> PUB foo..bar 1
a> x
a< -ERR 'Permissions Violation for Publish to "foo..bar"'
a> SUB foo.>.bar 3
a< -ERR 'Invalid Subject'
a> CONNECT {"pedantic":true}
a> PUB foo. 1
a> x
a< -ERR 'Invalid Publish Subject'
a< -ERR 'Permissions Violation for Publish to "foo."'
a> PING
a< PONG
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false,"user":"d","pass":"pw"}
b> SUB foo..bar 1
b< -ERR 'Invalid Subject'
b> PING
b< PONG
