# HPUB on a connection that did not negotiate headers is fatal. (nats-server
# closes without any -ERR line; docketd names the problem.)
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a>> HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n
a< -ERR 'Headers Not Negotiated'
a! eof
