# NKEY users: every INFO carries a nonce of its own, and a CONNECT naming a key proves nothing
# without that key's signature of it. A login with a real signature needs a key pair to sign
# the nonce with: Tests/interop/test_nkey.py and the Swift NKeyLoginTests cover it.
! config: authorization { users = [ { nkey: UBABIZX6SZFAKHK2KGUFD6QH53FDAH5QVCH2R5MJLFPEVYAW22QWQQCX }, { user: carol, password: three } ] }
a~ INFO \{.*"auth_required":true.*"nonce":"[A-Za-z0-9_-]{15}".*\} ?|INFO \{.*"nonce":"[A-Za-z0-9_-]{15}".*"auth_required":true.*\} ?
a> CONNECT {"verbose":false,"nkey":"UBABIZX6SZFAKHK2KGUFD6QH53FDAH5QVCH2R5MJLFPEVYAW22QWQQCX","sig":"dEpa5zeb3fek19YxkFFqJEftcWfizvkGtelTRsBYpgn-6ju9c7JscQT2Riludy_LZzQRV7B2P9v8e553HcMFBw"}
a< -ERR 'Authorization Violation'
a! eof
# No signature at all.
b~ INFO \{.*"nonce":"[A-Za-z0-9_-]{15}".*\} ?
b> CONNECT {"verbose":false,"nkey":"UBABIZX6SZFAKHK2KGUFD6QH53FDAH5QVCH2R5MJLFPEVYAW22QWQQCX"}
b< -ERR 'Authorization Violation'
b! eof
# A key that is no user's, and a key that is no key.
c~ INFO \{.*\} ?
c> CONNECT {"verbose":false,"nkey":"UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK","sig":"dEpa5zeb3fek19YxkFFqJEftcWfizvkGtelTRsBYpgn-6ju9c7JscQT2Riludy_LZzQRV7B2P9v8e553HcMFBw"}
c< -ERR 'Authorization Violation'
c! eof
d~ INFO \{.*\} ?
d> CONNECT {"verbose":false,"nkey":"UBAD","sig":"AAAA"}
d< -ERR 'Authorization Violation'
d! eof
# A password user of the same list logs in by name and password, nonce or not.
e~ INFO \{.*"nonce":"[A-Za-z0-9_-]{15}".*\} ?
e> CONNECT {"verbose":false,"user":"carol","pass":"three"}
e> PING
e< PONG
