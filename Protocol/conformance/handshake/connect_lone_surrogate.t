# A CONNECT whose strings hold a \u escape of half a surrogate pair (JavaScript's
# JSON.stringify writes one for a client name cut in the middle of an emoji) is
# still a JSON object: the half reads as U+FFFD and the connection goes on.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"name":"worker \\ud83d","lang":"nats.js"}
a> PING
a< PONG
a> CONNECT {"name":"\\ude00 and \\ud83d\\u0041"}
a> PING
a< PONG
