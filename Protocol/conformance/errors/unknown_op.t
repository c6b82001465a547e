# An unknown operation is fatal: -ERR, then the server closes. This
# includes ops that merely start like a known one, and binary junk.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> FOO bar
a< -ERR 'Unknown Protocol Operation'
a! eof
b~ INFO \{.*\} ?
b> PUBX foo 2
b< -ERR 'Unknown Protocol Operation'
b! eof
c~ INFO \{.*\} ?
c>> \x01\x02\xff\xfejunk\r\n
c< -ERR 'Unknown Protocol Operation'
c! eof
