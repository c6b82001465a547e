# A connection past --max-connections gets -ERR 'maximum connections
# exceeded' instead of INFO and is closed; the existing connections are
# unaffected. (nats-server sends INFO first, then the -ERR.)
! docket-only
! flags: --max-connections 2
a~ INFO \{.*\} ?
b~ INFO \{.*\} ?
c< -ERR 'maximum connections exceeded'
c! eof
a> PING
a< PONG
b> PING
b< PONG
