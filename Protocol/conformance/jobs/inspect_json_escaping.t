# Text that INSPECT puts in JSON strings (key, last_error, progress_note,
# result) is escaped: quotes, backslashes and control characters (CR, LF,
# tab, NUL) never break the document, which stays one line. Either JSON
# spelling of an escape is accepted (\" or \u0022, and so on).
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q key=a"b\\c 1
a> x
a< +OK 1
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a>> PROGRESS 1 5 3\r\n\t\x00z\r\n
a< +OK
a>> FAIL 1 retry=1h 13\r\nsay "hi"\r\n\\\xc3\xa9\r\n
a< +OK retry 3600000
a> INSPECT 1
a~ JSON \d+
a~ \{(?=.*"key":"a(\\"|\\u0022)b(\\\\|\\u005[cC])c")(?=.*"progress_note":"(\\t|\\u0009)\\u0000z")(?=.*"last_error":"say (\\"|\\u0022)hi(\\"|\\u0022)(\\r|\\u000[dD])(\\n|\\u000[aA])(\\\\|\\u005[cC])(é|\\u00[eE]9)").*\}
a> ENQ q 0
a>
a< +OK 2
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 0
a<
a>> ACK 2 4\r\n"\n\\\t\r\n
a< +OK
a> INSPECT 2
a~ JSON \d+
a~ \{.*"result":"(\\"|\\u0022)(\\n|\\u000[aA])(\\\\|\\u005[cC])(\\t|\\u0009)".*\}
