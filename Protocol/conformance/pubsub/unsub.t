# After UNSUB the subscription gets nothing more.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> SUB foo 1
a> PUB foo 1
a> a
a< MSG foo 1 1
a< a
a> UNSUB 1
a> PUB foo 1
a> b
a> PING
a< PONG
# UNSUB <sid> <max> removes the subscription after max messages in total.
a> SUB foo 2
a> UNSUB 2 2
a> PUB foo 1
a> a
a> PUB foo 1
a> b
a> PUB foo 1
a> c
a> PING
a< MSG foo 2 1
a< a
a< MSG foo 2 1
a< b
a< PONG
# Messages delivered before the UNSUB count: after two messages,
# UNSUB 3 2 removes the subscription at once.
a> SUB bar 3
a> PUB bar 1
a> a
a> PUB bar 1
a> b
a< MSG bar 3 1
a< a
a< MSG bar 3 1
a< b
a> UNSUB 3 2
a> PUB bar 1
a> c
a> PING
a< PONG
