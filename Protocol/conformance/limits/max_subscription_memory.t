# --max-subscription-memory bounds every connection's subscriptions together: each counts its
# subject, queue group and sid plus 512 bytes. With 1 KiB, one short subscription fits and a
# second, on any connection, is refused with the non-fatal error; an UNSUB makes room again.
! flags: --max-subscription-memory 1KiB
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> SUB a 1
a> PING
a< PONG
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> SUB b 1
b< -ERR 'maximum subscriptions exceeded'
b> PUB a 2
b> hi
b> PING
b< PONG
a< MSG a 1 2
a< hi
a> UNSUB 1
a> PING
a< PONG
b> SUB b 1
b> PUB b 2
b> ho
b< MSG b 1 2
b< ho
b> PING
b< PONG
