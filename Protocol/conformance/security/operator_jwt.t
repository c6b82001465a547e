# Operator mode (decentralized logins): the configuration trusts an operator and preloads the
# JWT of an account it signed; a client logs in with a user JWT that account issued and signs
# INFO's nonce with the user's key. A bearer user JWT needs no signature, which is the one
# login a transcript can make (a signature needs the nonce): Tests/interop/test_nats_jwt.py
# covers signed logins, expiry, revocation and reload. Keys and JWTs made for this file.
! config: operator: eyJ0eXAiOiAiSldUIiwgImFsZyI6ICJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiJYTE56eFRCUmlFVWR1T25CSVRpS3lBIiwiaWF0IjoxNzk2NTAwMDAwLCJpc3MiOiJPQUdCSjRXMklERExHNVgyRE9LWjNWN00yQURBUkdGUjdYNTM3WDVYMzdETVhESjVRNzVHUkxaSyIsIm5hbWUiOiJjb25mb3JtYW5jZSIsInN1YiI6Ik9BR0JKNFcySURETEc1WDJET0taM1Y3TTJBREFSR0ZSN1g1MzdYNVgzN0RNWERKNVE3NUdSTFpLIiwibmF0cyI6eyJ0eXBlIjoib3BlcmF0b3IiLCJ2ZXJzaW9uIjoyfX0.y0Cx8I_Gqbc6nxQ4t-UwHxMDzBSbhLj6fiGVJn8HwflX30LOQZl47NGzSIbspSEvrR2GQ0Oi5hYkTDCIpxM3Bg
! config: resolver: MEMORY
! config: resolver_preload: { ACLHHUKABA5BTNXDIY4AXL2DCJAI5TVEVAOMB5YDEJLGMCWWSL5ZODDM: "eyJ0eXAiOiAiSldUIiwgImFsZyI6ICJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiIyc0JxUms1dmdsczFuMFh1dmlqNnN3IiwiaWF0IjoxNzk2NTAwMDAwLCJpc3MiOiJPQUdCSjRXMklERExHNVgyRE9LWjNWN00yQURBUkdGUjdYNTM3WDVYMzdETVhESjVRNzVHUkxaSyIsIm5hbWUiOiJhY21lIiwic3ViIjoiQUNMSEhVS0FCQTVCVE5YRElZNEFYTDJEQ0pBSTVUVkVWQU9NQjVZREVKTEdNQ1dXU0w1Wk9ERE0iLCJuYXRzIjp7InR5cGUiOiJhY2NvdW50IiwidmVyc2lvbiI6MiwibGltaXRzIjp7InN1YnMiOi0xLCJjb25uIjotMSwibGVhZiI6LTEsImltcG9ydHMiOi0xLCJleHBvcnRzIjotMSwiZGF0YSI6LTEsInBheWxvYWQiOi0xLCJ3aWxkY2FyZHMiOnRydWV9fX0.s7hVkkzlgduh3zROKBCwSHOBNM2ix7ljXmICXdIOtYz8sT5eIR2sMZh4tBtFrMJWP4BrHDdSpr-IAwD5tx2XCQ" }
a~ INFO \{.*"auth_required":true.*"nonce":"[A-Za-z0-9_-]+".*\} ?|INFO \{.*"nonce":"[A-Za-z0-9_-]+".*"auth_required":true.*\} ?
a> CONNECT {"verbose":false,"jwt":"eyJ0eXAiOiAiSldUIiwgImFsZyI6ICJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiJqN2tVeTBTTnB3NjhadlhweGpjdDZRIiwiaWF0IjoxNzk2NTAwMDAwLCJpc3MiOiJBQ0xISFVLQUJBNUJUTlhESVk0QVhMMkRDSkFJNVRWRVZBT01CNVlERUpMR01DV1dTTDVaT0RETSIsIm5hbWUiOiJiZWFyZXIiLCJzdWIiOiJVQVJQTktLTEo3N1JKNlFVWVZTT1VKS1MzWUpRSzNVR1pJU1JZQ1NZTElJSkdKTkVYT1dBVFlIQSIsIm5hdHMiOnsidHlwZSI6InVzZXIiLCJ2ZXJzaW9uIjoyLCJzdWJzIjotMSwiZGF0YSI6LTEsInBheWxvYWQiOi0xLCJiZWFyZXJfdG9rZW4iOnRydWV9fQ.A9kUMl7_SCW4J8g5gVGrUo667GDaXDq0noeX--viE8V8M4mp74pQqT1kd7wM3FrqlkKMKl-PwzC56NCyDC9eDQ"}
a> PING
a< PONG
# No JWT: no user, whatever else the CONNECT says.
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"user":"alice","pass":"secret"}
b< -ERR 'Authorization Violation'
b! eof
# A user JWT from an account the operator did not vouch for.
c~ INFO \{.*\} ?
c> CONNECT {"verbose":false,"jwt":"eyJ0eXAiOiAiSldUIiwgImFsZyI6ICJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiJwa3NNR2loTXBfeTFIQnROV2NpNVNBIiwiaWF0IjoxNzk2NTAwMDAwLCJpc3MiOiJBQkU1QlFGSjVaN1FIR1hWU1FYQ0szTTZJSE5PRUdQNlpVUkZIRUdHUVZXVTJQTEtITVQ2V0VJVyIsIm5hbWUiOiJzdHJhbmdlciIsInN1YiI6IlVBWFVNMkhLUEtYV1VYVEhERDJIQzQ3VUJRT01HQkQ3N0xSSlZOWUIzNFpSWURYWVNIRVlRSUVCIiwibmF0cyI6eyJ0eXBlIjoidXNlciIsInZlcnNpb24iOjIsInN1YnMiOi0xLCJkYXRhIjotMSwicGF5bG9hZCI6LTEsImJlYXJlcl90b2tlbiI6dHJ1ZX19.dVmNEhLTmBVPiYMEpBmZc3F7dwsQEIB039OrCg1R2RyXahURHH0YpR081Ov3E6vml32j9Wx523HXPquGGkeACw"}
c< -ERR 'Authorization Violation'
c! eof
# Something that is not a JWT.
d~ INFO \{.*\} ?
d> CONNECT {"verbose":false,"jwt":"not.a.jwt","sig":"AAAA"}
d< -ERR 'Authorization Violation'
d! eof
