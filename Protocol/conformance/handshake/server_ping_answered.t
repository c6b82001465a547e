# A client that answers every server PING with PONG stays connected:
# far more PINGs arrive than --max-pings-out allows unanswered.
! flags: --ping-interval 100ms --max-pings-out 2
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a< PING
a> PONG
a< PING
a> PONG
a< PING
a> PONG
a< PING
a> PONG
a< PING
a> PONG
