# With "echo":false a connection does not get its own publishes, but
# still gets other connections' messages.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"echo":false}
a> SUB foo 1
a> PUB foo 4
a> mine
a> PING
a< PONG
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> SUB foo 1
b> PUB foo 6
b> theirs
b< MSG foo 1 6
b< theirs
b> PING
b< PONG
a< MSG foo 1 6
a< theirs
a> PING
a< PONG
