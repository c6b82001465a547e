# Op names are case-insensitive; server output is uppercase.
a~ INFO \{.*\} ?
a> connect {"verbose":false,"pedantic":false}
a> ping
a< PONG
a> PiNg
a< PONG
a> sub foo 1
a> pub foo 2
a> hi
a< MSG foo 1 2
a< hi
a> Pub foo reply 1
a> x
a< MSG foo 1 reply 1
a< x
a> unsub 1
a> pub foo 1
a> y
a> pong
a> PING
a< PONG
