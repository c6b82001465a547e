# An HPUB whose header block is empty (0 header bytes) carries no headers: it is delivered as
# a plain MSG, even to a subscriber that negotiated headers.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"headers":true}
a> SUB foo 1
a> HPUB foo 0 2
a> xy
a< MSG foo 1 2
a< xy
a> PING
a< PONG
