# docketd drops a PUB to a wildcard subject (with or without pedantic),
# even when a wildcard subscription would match it. nats-server instead
# delivers it (MSG foo.* ...) to subscriptions that match it token by
# token, so this file is docketd-only.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> SUB foo.* 1
a> SUB > 2
a>> PUB foo.* 2\r\nhi\r\n
a>> PUB foo.> 2\r\nhi\r\n
a> PING
a< PONG
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":true}
b> SUB foo.* 1
b>> PUB foo.* 2\r\nhi\r\n
b< -ERR 'Invalid Publish Subject'
b> PING
b< PONG
