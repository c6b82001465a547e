# While the disk under the data directory has less than --min-disk-free
# free, new jobs are refused with STORE_FULL naming the disk, and the
# connection and everything else go on: reads, and messages. No disk
# has a tebibyte free here, so every ENQ is refused.
! docket-only
! store: lmdb
! flags: --min-disk-free 1TiB
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q 5
a> hello
a~ -ERR 'STORE_FULL the disk under the data directory has \d+\.\d MiB free, and --min-disk-free keeps 1048576\.0 MiB for the changes that finish jobs; new jobs are refused until it has more room'
a> RESERVE q timeout=0
a< NOJOB
a> SUB news 1
a> PUB news 2
a> hi
a< MSG news 1 2
a< hi
a> PING
a< PONG
