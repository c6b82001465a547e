# docketd counts the whole control line (op included, CRLF not): 32
# bytes pass, 33 do not. nats-server counts only the arguments after the
# op, so this boundary is docketd-specific.
! docket-only
! flags: --max-control-line 32
a~ INFO \{.*\} ?
a> SUB abcdefghijklmnopqrstuvwxyz 1
a< +OK
a> SUB abcdefghijklmnopqrstuvwxyz1 2
a< -ERR 'maximum control line exceeded'
a! eof
