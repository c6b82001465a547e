# RESERVE takes the lowest priority value first, and within one priority
# the oldest job first. Priorities go from -1000000 to 1000000.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q pri=5 4
a> five
a< +OK 1
a> ENQ q 5
a> zero1
a< +OK 2
a> ENQ q pri=-1 3
a> neg
a< +OK 3
a> ENQ q pri=0 5
a> zero2
a< +OK 4
a> ENQ q pri=1000000 3
a> max
a< +OK 5
a> ENQ q pri=-1000000 3
a> min
a< +OK 6
a> RESERVE q timeout=0
a~ JOB 6 q 1 lease=\d+ delivery=\d+ 3
a< min
a> RESERVE q timeout=0
a~ JOB 3 q 1 lease=\d+ delivery=\d+ 3
a< neg
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 5
a< zero1
a> RESERVE q timeout=0
a~ JOB 4 q 1 lease=\d+ delivery=\d+ 5
a< zero2
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 4
a< five
a> RESERVE q timeout=0
a~ JOB 5 q 1 lease=\d+ delivery=\d+ 3
a< max
a> RESERVE q timeout=0
a< NOJOB
