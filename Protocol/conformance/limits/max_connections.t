# A connection past --max-connections gets INFO, then -ERR 'maximum
# connections exceeded', then the close, as from nats-server (clients read
# INFO first; anything else they report as a missing INFO, not the limit).
# The existing connections are unaffected.
! flags: --max-connections 2
a~ INFO \{.*\} ?
b~ INFO \{.*\} ?
c~ INFO \{.*\} ?
c< -ERR 'maximum connections exceeded'
c! eof
a> PING
a< PONG
b> PING
b< PONG
