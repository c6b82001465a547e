# With a short ping interval the server pings; a client that never
# answers is dropped once more than --max-pings-out PINGs are
# outstanding.
! flags: --ping-interval 100ms --max-pings-out 2
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a< PING
a< PING
a< -ERR 'Stale Connection'
a! eof
# The same happens to a client that never sends CONNECT at all.
b~ INFO \{.*\} ?
b< PING
b< PING
b< -ERR 'Stale Connection'
b! eof
