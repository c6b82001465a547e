# Queue settings take numbers as ENQ does: decimal digits for counts (no sign, in rates too), a
# decimal fraction for jitter (not hexadecimal, not inf); kept histories are at most 2147483647
# (a 32-bit count); a zero throttle is refused in words of its own. A refusal names the range
# that was left (a rate's count and window, a backoff's base and cap, DEAD's limit).
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false}
a> QUEUE q concurrency=+5
a< -ERR 'BAD_OPTION concurrency=+5: concurrency is 1 to 100000 or none'
a> QUEUE q attempts=+7
a< -ERR 'BAD_OPTION attempts=+7: attempts is 1 to 1000 or none'
a> QUEUE q jitter=0x1p-1
a< -ERR 'BAD_OPTION jitter=0x1p-1: jitter is 0 to 1 or none'
a> QUEUE q keep_dead=-1
a< -ERR 'BAD_OPTION keep_dead=-1: keep_dead is 0 to 2147483647 or none'
a> QUEUE q keep_completed=2147483648
a< -ERR 'BAD_OPTION keep_completed=2147483648: keep_completed is 0 to 2147483647 or none'
a> QUEUE q rate=+5/1s
a< -ERR 'BAD_OPTION rate=+5/1s: rate is N/<duration> (N from 1 to 1000000, the window above 0 and at most 366d) or none'
a> QUEUE q group_rate=+5/1s
a< -ERR 'BAD_OPTION group_rate=+5/1s: group_rate is N/<duration> (N from 1 to 1000000, the window above 0 and at most 366d) or none'
a> QUEUE q rate=1000001/1s
a< -ERR 'BAD_OPTION rate=1000001/1s: rate is N/<duration> (N from 1 to 1000000, the window above 0 and at most 366d) or none'
a> QUEUE q rate=1/367d
a< -ERR 'BAD_OPTION rate=1/367d: rate is N/<duration> (N from 1 to 1000000, the window above 0 and at most 366d) or none'
a> QUEUE q backoff=exp:2s:1s
a< -ERR 'BAD_OPTION backoff=exp:2s:1s: backoff is fixed:<d>, exp:<base>[:<cap>] (base above 0, cap at least base) or none'
a> QUEUE q keep_dead=2147483647
a< +OK
a> QUEUE q concurrency=5 jitter=0.25 keep_completed=10
a< +OK
a> ENQ q jitter=inf 1
a> x
a< -ERR 'BAD_OPTION jitter=inf: jitter must be a fraction from 0 to 1'
a> ENQ q backoff=exp:0s 1
a> x
a< -ERR 'BAD_OPTION backoff=exp:0s: backoff must be fixed:<duration> or exp:<base>[:<cap>], base above 0 and cap at least base'
a> DEAD q limit=10000000000
a< -ERR 'BAD_OPTION limit=10000000000: DEAD takes one limit=<n>, n from 1 to 9999999999'
a> ENQ q jitter=2.5e-1 1
a> x
a< +OK 1
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a> FAIL 1 throttle=0s
a< -ERR 'BAD_OPTION throttle=0s: throttle must be a duration longer than zero'
