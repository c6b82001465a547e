# ENQ answers +OK <id>; ids are assigned by the server, from 1 in a fresh
# data directory, increasing. RESERVE hands out the job as
# JOB <id> <queue> <attempt> lease=<ms> delivery=<n> <#bytes> followed by the
# payload, attempt 1 on the first run. Job verbs are Docket extensions (nats-server answers
# 'Unknown Protocol Operation').
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ emails 5
a> hello
a< +OK 1
a> ENQ emails 5
a> world
a< +OK 2
a> RESERVE emails
a~ JOB 1 emails 1 lease=\d+ delivery=\d+ 5
a< hello
a> RESERVE emails timeout=0
a~ JOB 2 emails 1 lease=\d+ delivery=\d+ 5
a< world
a> PING
a< PONG
