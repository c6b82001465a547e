# On connect the server speaks first: one INFO line with compact JSON.
# nats-server 2.9 writes "INFO {...} " with a trailing space before the
# CRLF; docketd may omit it, so the regexes accept both.
a~ INFO \{.*\} ?
# The fields every client relies on, in any order. The Python client's new
# core (nats-core) refuses an INFO without "go", "host" or "port".
b~ INFO \{(?=.*"server_id":"[^"]+")(?=.*"go":"[^"]+")(?=.*"host":"[^"]+")(?=.*"port":[0-9]+[,}])(?=.*"server_name":"[^"]*")(?=.*"version":"2\.9\.[0-9]+")(?=.*"proto":1[,}])(?=.*"headers":true[,}])(?=.*"max_payload":[0-9]+[,}])(?=.*"client_id":[0-9]+[,}])(?=.*"client_ip":"127\.0\.0\.1").*\} ?
# Compact JSON: no space after a colon or comma outside strings.
c~ INFO \{(?:"[^"]*"|[^" ])*\} ?
