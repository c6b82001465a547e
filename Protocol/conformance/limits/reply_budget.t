# Replies that list jobs stop at the reply budget, the server's max_payload: DEAD and a LIST
# page take jobs while the next one fits (the first always), LIST's next then names the last
# one shown (PARENTS, which lists every parent, leaves out the outcomes past the budget).
! docket-only
! flags: --max-payload 1200
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q attempts=1 1
a> x
a< +OK 1
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a> FAIL 1 200
a> rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr
a< +OK dead
a> ENQ q attempts=1 1
a> x
a< +OK 2
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 1
a< x
a> FAIL 2 200
a> rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr
a< +OK dead
a> ENQ q attempts=1 1
a> x
a< +OK 3
a> RESERVE q timeout=0
a~ JOB 3 q 1 lease=\d+ delivery=\d+ 1
a< x
a> FAIL 3 200
a> rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr
a< +OK dead
a> DEAD q
a~ JSON \d+
a~ \[\{"id":1,[^\]]*\},\{"id":2,[^\]]*\}\]
a> LIST q state=dead
a~ JSON \d+
a~ \{"queue":"q","state":"dead","jobs":\[\{"id":3,[^\]]*\},\{"id":2,[^\]]*\}\],"next":"[-0-9.]+"\}
