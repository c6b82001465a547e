# A line that starts with PING or PONG is that op, whatever follows it on the line, as in
# nats-server: a stray byte in a keep-alive does not cost the client its connection.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false}
a> PING x
a< PONG
a>> PING\r\r\n
a< PONG
a> pong junk
a> PINGX
a< PONG
