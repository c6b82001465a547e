# Workers waiting on a queue are served first come, first served: b waits
# before c, so the first job goes to b and the second to c.
! docket-only
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> RESERVE q
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> RESERVE other timeout=100ms
a< NOJOB
c~ INFO \{.*\} ?
c> CONNECT {"verbose":false,"pedantic":false}
c> RESERVE q
a> RESERVE other timeout=100ms
a< NOJOB
a> ENQ q 5
a> first
a< +OK 1
b~ JOB 1 q 1 lease=\d+ delivery=\d+ 5
b< first
a> ENQ q 6
a> second
a< +OK 2
c~ JOB 2 q 1 lease=\d+ delivery=\d+ 6
c< second
