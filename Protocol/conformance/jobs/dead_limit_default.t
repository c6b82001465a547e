# DEAD lists at most 100 jobs unless limit= says otherwise: with 101 dead
# jobs (ids 1 to 101, dead in that order), DEAD q lists ids 1 to 100 and
# DEAD q limit=200 lists all 101.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q 0
a>
a< +OK 1
a> ENQ q 0
a>
a< +OK 2
a> ENQ q 0
a>
a< +OK 3
a> ENQ q 0
a>
a< +OK 4
a> ENQ q 0
a>
a< +OK 5
a> ENQ q 0
a>
a< +OK 6
a> ENQ q 0
a>
a< +OK 7
a> ENQ q 0
a>
a< +OK 8
a> ENQ q 0
a>
a< +OK 9
a> ENQ q 0
a>
a< +OK 10
a> ENQ q 0
a>
a< +OK 11
a> ENQ q 0
a>
a< +OK 12
a> ENQ q 0
a>
a< +OK 13
a> ENQ q 0
a>
a< +OK 14
a> ENQ q 0
a>
a< +OK 15
a> ENQ q 0
a>
a< +OK 16
a> ENQ q 0
a>
a< +OK 17
a> ENQ q 0
a>
a< +OK 18
a> ENQ q 0
a>
a< +OK 19
a> ENQ q 0
a>
a< +OK 20
a> ENQ q 0
a>
a< +OK 21
a> ENQ q 0
a>
a< +OK 22
a> ENQ q 0
a>
a< +OK 23
a> ENQ q 0
a>
a< +OK 24
a> ENQ q 0
a>
a< +OK 25
a> ENQ q 0
a>
a< +OK 26
a> ENQ q 0
a>
a< +OK 27
a> ENQ q 0
a>
a< +OK 28
a> ENQ q 0
a>
a< +OK 29
a> ENQ q 0
a>
a< +OK 30
a> ENQ q 0
a>
a< +OK 31
a> ENQ q 0
a>
a< +OK 32
a> ENQ q 0
a>
a< +OK 33
a> ENQ q 0
a>
a< +OK 34
a> ENQ q 0
a>
a< +OK 35
a> ENQ q 0
a>
a< +OK 36
a> ENQ q 0
a>
a< +OK 37
a> ENQ q 0
a>
a< +OK 38
a> ENQ q 0
a>
a< +OK 39
a> ENQ q 0
a>
a< +OK 40
a> ENQ q 0
a>
a< +OK 41
a> ENQ q 0
a>
a< +OK 42
a> ENQ q 0
a>
a< +OK 43
a> ENQ q 0
a>
a< +OK 44
a> ENQ q 0
a>
a< +OK 45
a> ENQ q 0
a>
a< +OK 46
a> ENQ q 0
a>
a< +OK 47
a> ENQ q 0
a>
a< +OK 48
a> ENQ q 0
a>
a< +OK 49
a> ENQ q 0
a>
a< +OK 50
a> ENQ q 0
a>
a< +OK 51
a> ENQ q 0
a>
a< +OK 52
a> ENQ q 0
a>
a< +OK 53
a> ENQ q 0
a>
a< +OK 54
a> ENQ q 0
a>
a< +OK 55
a> ENQ q 0
a>
a< +OK 56
a> ENQ q 0
a>
a< +OK 57
a> ENQ q 0
a>
a< +OK 58
a> ENQ q 0
a>
a< +OK 59
a> ENQ q 0
a>
a< +OK 60
a> ENQ q 0
a>
a< +OK 61
a> ENQ q 0
a>
a< +OK 62
a> ENQ q 0
a>
a< +OK 63
a> ENQ q 0
a>
a< +OK 64
a> ENQ q 0
a>
a< +OK 65
a> ENQ q 0
a>
a< +OK 66
a> ENQ q 0
a>
a< +OK 67
a> ENQ q 0
a>
a< +OK 68
a> ENQ q 0
a>
a< +OK 69
a> ENQ q 0
a>
a< +OK 70
a> ENQ q 0
a>
a< +OK 71
a> ENQ q 0
a>
a< +OK 72
a> ENQ q 0
a>
a< +OK 73
a> ENQ q 0
a>
a< +OK 74
a> ENQ q 0
a>
a< +OK 75
a> ENQ q 0
a>
a< +OK 76
a> ENQ q 0
a>
a< +OK 77
a> ENQ q 0
a>
a< +OK 78
a> ENQ q 0
a>
a< +OK 79
a> ENQ q 0
a>
a< +OK 80
a> ENQ q 0
a>
a< +OK 81
a> ENQ q 0
a>
a< +OK 82
a> ENQ q 0
a>
a< +OK 83
a> ENQ q 0
a>
a< +OK 84
a> ENQ q 0
a>
a< +OK 85
a> ENQ q 0
a>
a< +OK 86
a> ENQ q 0
a>
a< +OK 87
a> ENQ q 0
a>
a< +OK 88
a> ENQ q 0
a>
a< +OK 89
a> ENQ q 0
a>
a< +OK 90
a> ENQ q 0
a>
a< +OK 91
a> ENQ q 0
a>
a< +OK 92
a> ENQ q 0
a>
a< +OK 93
a> ENQ q 0
a>
a< +OK 94
a> ENQ q 0
a>
a< +OK 95
a> ENQ q 0
a>
a< +OK 96
a> ENQ q 0
a>
a< +OK 97
a> ENQ q 0
a>
a< +OK 98
a> ENQ q 0
a>
a< +OK 99
a> ENQ q 0
a>
a< +OK 100
a> ENQ q 0
a>
a< +OK 101
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 1 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 2 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 3 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 3 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 4 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 4 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 5 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 5 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 6 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 6 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 7 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 7 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 8 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 8 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 9 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 9 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 10 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 10 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 11 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 11 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 12 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 12 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 13 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 13 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 14 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 14 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 15 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 15 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 16 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 16 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 17 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 17 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 18 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 18 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 19 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 19 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 20 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 20 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 21 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 21 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 22 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 22 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 23 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 23 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 24 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 24 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 25 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 25 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 26 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 26 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 27 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 27 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 28 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 28 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 29 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 29 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 30 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 30 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 31 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 31 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 32 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 32 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 33 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 33 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 34 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 34 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 35 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 35 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 36 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 36 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 37 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 37 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 38 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 38 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 39 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 39 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 40 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 40 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 41 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 41 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 42 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 42 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 43 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 43 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 44 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 44 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 45 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 45 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 46 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 46 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 47 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 47 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 48 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 48 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 49 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 49 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 50 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 50 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 51 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 51 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 52 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 52 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 53 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 53 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 54 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 54 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 55 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 55 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 56 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 56 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 57 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 57 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 58 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 58 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 59 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 59 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 60 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 60 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 61 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 61 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 62 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 62 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 63 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 63 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 64 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 64 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 65 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 65 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 66 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 66 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 67 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 67 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 68 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 68 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 69 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 69 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 70 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 70 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 71 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 71 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 72 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 72 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 73 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 73 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 74 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 74 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 75 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 75 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 76 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 76 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 77 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 77 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 78 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 78 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 79 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 79 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 80 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 80 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 81 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 81 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 82 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 82 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 83 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 83 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 84 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 84 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 85 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 85 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 86 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 86 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 87 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 87 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 88 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 88 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 89 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 89 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 90 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 90 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 91 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 91 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 92 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 92 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 93 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 93 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 94 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 94 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 95 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 95 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 96 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 96 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 97 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 97 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 98 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 98 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 99 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 99 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 100 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 100 retry=no
a< +OK dead
a> RESERVE q timeout=0
a~ JOB 101 q 1 lease=\d+ delivery=\d+ 0
a<
a> FAIL 101 retry=no
a< +OK dead
a> DEAD q
a~ JSON \d+
a~ \[\{(?=.*"id":1[,}])(?=.*"id":100[,}])(?:(?!"id":101[,}]).)*\}\]
a> DEAD q limit=200
a~ JSON \d+
a~ \[\{(?=.*"id":1[,}])(?=.*"id":100[,}])(?=.*"id":101[,}]).*\}\]
