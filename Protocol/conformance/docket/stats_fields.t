# STATS has every field PROTOCOL.md lists, on both job stores. On the embedded
# store `store` is "lmdb", there is no `store_available`, `commits` counts the
# ENQ's group commit and the store's sizes are real; with jobs in PostgreSQL
# `store` is "postgres", `store_available` true, and `commits`,
# `commit_us_total` and the sizes (the embedded store's) stay 0.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q 0
a>
a< +OK 1
a> STATS
a~ JSON \d+
a~ \{(?=.*"server_id":"[A-Z0-9]+")(?=.*"version":"2\.9\.0")(?=.*"docket_version":"[^"]+")(?=.*"uptime_ms":\d+[,}])(?=.*"connections":1[,}])(?=.*"total_connections":1[,}])(?=.*"refused_connections":0[,}])(?=.*"subscriptions":0[,}])(?=.*"slow_consumers":0[,}])(?=.*"in_msgs":0[,}])(?=.*"out_msgs":0[,}])(?=.*"in_bytes":0[,}])(?=.*"out_bytes":0[,}])(?=.*"jobs":1[,}])(?=.*"queues":1[,}])(?=.*"commits":\d+[,}])(?=.*"commit_us_total":\d+[,}])(?=.*"route_refusals":0[,}])(?=.*"skipped_ticks":0[,}])(?=.*"checkpoint_waits":0[,}])(?=.*"store_used_bytes":\d+[,}])(?=.*"store_capacity_bytes":\d+[,}])(?=.*"store_file_bytes":\d+[,}])(?=.*"sync":"always")(?=.*"max_payload":1048576[,}])(?:(?=.*"store":"lmdb")(?!.*"store_available")(?=.*"commits":[1-9])(?=.*"store_used_bytes":[1-9])(?=.*"store_capacity_bytes":[1-9])(?=.*"store_file_bytes":[1-9])|(?=.*"store":"postgres")(?=.*"store_available":true[,}])(?=.*"commits":0[,}])(?=.*"commit_us_total":0[,}])(?=.*"store_used_bytes":0[,}])(?=.*"store_capacity_bytes":0[,}])(?=.*"store_file_bytes":0[,}])).*\}
