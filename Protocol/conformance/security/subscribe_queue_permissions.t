# A subscribe permission written "<subject> <queue>" is nats-server's queue permission: it is
# about queue subscriptions on that subject in the groups the queue pattern names. Allowed
# ones grant those groups (and only those, where they cover the subject, even beside a plain
# entry); denied ones refuse them. A plain SUB is not granted by a queue entry.
! config: authorization { users = [
! config:   { user: w, password: pw, permissions: { subscribe: {
! config:       allow: ["jobs g1", "tasks.* g.*", "both", "both g1", "open"],
! config:       deny: ["open g9"] } } }
! config: ] }
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"user":"w","pass":"pw"}
a> SUB jobs g1 1
a> SUB jobs g2 2
a< -ERR 'Permissions Violation for Subscription to "jobs" using queue "g2"'
a> SUB jobs 3
a< -ERR 'Permissions Violation for Subscription to "jobs"'
a> SUB tasks.x g.a 4
a> SUB tasks.x g 5
a< -ERR 'Permissions Violation for Subscription to "tasks.x" using queue "g"'
a> SUB both 6
a> SUB both g1 7
a> SUB both g2 8
a< -ERR 'Permissions Violation for Subscription to "both" using queue "g2"'
a> SUB open g1 9
a> SUB open 10
a> SUB open g9 11
a< -ERR 'Permissions Violation for Subscription to "open" using queue "g9"'
a> PUB jobs 1
a> x
a< MSG jobs 1 1
a< x
a> PING
a< PONG
