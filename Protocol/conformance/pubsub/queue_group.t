# Subscriptions in one queue group share the messages: exactly one
# member gets each message; a plain subscription still gets its copy.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> SUB work q1 1
a> SUB work q1 2
a> PING
a< PONG
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> SUB work 9
b> PUB work 3
b> job
b> PING
b< MSG work 9 3
b< job
b< PONG
a> PING
a~ MSG work [12] 3
a< job
a< PONG
