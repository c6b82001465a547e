# Past --max-subscriptions a SUB is refused with a non-fatal error;
# after an UNSUB there is room again.
! flags: --max-subscriptions 2
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> SUB a 1
a> SUB b 2
a> SUB c 3
a< -ERR 'maximum subscriptions exceeded'
a> PUB c 1
a> x
a> PING
a< PONG
a> UNSUB 1
a> SUB c 3
a> PUB c 1
a> y
a< MSG c 3 1
a< y
a> PING
a< PONG
