# A SUB on a denied subject is refused with nats-server's text (naming the queue group when
# there is one); a wider SUB is allowed and simply never gets the denied messages.
! docket-only
! config: authorization { users = [
! config:   { user: reader, password: r1, permissions: { subscribe: { allow: ">", deny: "secret.>" } } }
! config: ] }
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"user":"reader","pass":"r1"}
a> SUB secret.plans 1
a< -ERR 'Permissions Violation for Subscription to "secret.plans"'
a> SUB secret.> workers 2
a< -ERR 'Permissions Violation for Subscription to "secret.>" using queue "workers"'
a> SUB > 3
a> PUB secret.plans 6
a> hidden
a> PUB public.news 5
a> shown
a< MSG public.news 3 5
a< shown
a> PING
a< PONG
