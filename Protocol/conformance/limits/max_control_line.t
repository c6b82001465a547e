# A control line longer than max_control_line is fatal; short lines are
# fine. (nats-server measures only the arguments after the op name, so
# the long lines here are over the limit either way.)
! flags: --max-control-line 32
a~ INFO \{.*\} ?
a> CONNECT {}
a< +OK
a> SUB abcdefghij 1
a< +OK
a> SUB abcdefghijklmnopqrstuvwxyz0123456789 2
a< -ERR 'maximum control line exceeded'
a! eof
# The limit applies while the line is still arriving: the server does
# not wait for a CRLF that may never come.
b~ INFO \{.*\} ?
b>> SUB abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz
b< -ERR 'maximum control line exceeded'
b! eof
