# ENQ with an option that is unknown, repeated (named as such), or out of
# range is BAD_OPTION: nothing is enqueued, the payload is still read, and the
# connection stays usable.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q colour=red 2
a> hi
a~ -ERR 'BAD_OPTION .*'
a> ENQ q pri=1 pri=2 2
a> hi
a< -ERR 'BAD_OPTION pri=2: pri is given more than once'
a> ENQ q delay=1s delay=2s 2
a> hi
a< -ERR 'BAD_OPTION delay=2s: delay is given more than once'
a> ENQ q key=k key=k 2
a> hi
a< -ERR 'BAD_OPTION key=k: key is given more than once'
a> ENQ q pri=1000001 2
a> hi
a~ -ERR 'BAD_OPTION .*'
a> ENQ q pri=-1000001 2
a> hi
a~ -ERR 'BAD_OPTION .*'
a> ENQ q pri=high 2
a> hi
a~ -ERR 'BAD_OPTION .*'
a> ENQ q attempts=0 2
a> hi
a~ -ERR 'BAD_OPTION .*'
a> ENQ q attempts=1001 2
a> hi
a~ -ERR 'BAD_OPTION .*'
a> ENQ q delay=soon 2
a> hi
a~ -ERR 'BAD_OPTION .*'
a> ENQ q at=tomorrow 2
a> hi
a~ -ERR 'BAD_OPTION .*'
a> ENQ q lease=long 2
a> hi
a~ -ERR 'BAD_OPTION .*'
a> ENQ q backoff=linear:1s 2
a> hi
a~ -ERR 'BAD_OPTION .*'
a> ENQ q backoff=fixed:never 2
a> hi
a~ -ERR 'BAD_OPTION .*'
a> ENQ q backoff=exp:0s 2
a> hi
a~ -ERR 'BAD_OPTION backoff=exp:0s: .*'
a> ENQ q backoff=exp:2s:1s 2
a> hi
a~ -ERR 'BAD_OPTION backoff=exp:2s:1s: .*'
a> ENQ q jitter=1.5 2
a> hi
a~ -ERR 'BAD_OPTION .*'
a> ENQ q key= 2
a> hi
a~ -ERR 'BAD_OPTION .*'
a> ENQ q key=kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk 2
a> hi
a~ -ERR 'BAD_OPTION .*'
a> PING
a< PONG
a> RESERVE q timeout=0
a< NOJOB
