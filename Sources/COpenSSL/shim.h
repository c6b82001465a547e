#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <string.h>

// OpenSSL spells these as macros, which Swift cannot call.
static inline long docket_ssl_ctx_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
static inline int docket_ssl_ctx_set_min_tls12(SSL_CTX *ctx) { return (int)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION); }
static inline int docket_ssl_set_host_name(SSL *ssl, const char *name) { return (int)SSL_set_tlsext_host_name(ssl, name); }
static inline long docket_ssl_ctx_set_options(SSL_CTX *ctx, long options) { return (long)SSL_CTX_set_options(ctx, (uint64_t)options); }
static inline unsigned long docket_xn_flag_rfc2253(void) { return XN_FLAG_RFC2253; }

// Whether an alternative name holds a control byte: a NUL or a line end inside one would make
// the list below read as names the CA never signed ("ops@example.com\0.evil.org" as the part
// before the NUL, "evil.org\nops@example.com" as two), so such a name is left out.
static inline int docket_has_control_byte(const unsigned char *bytes, int length) {
    for (int i = 0; i < length; i++) {
        if (bytes[i] < 0x20 || bytes[i] == 0x7F) return 1;
    }
    return 0;
}

// The peer certificate's email and DNS subject alternative names, each followed by '\n', into
// `out` (at most `size` bytes, NUL-terminated); returns how many names were written. Names with
// a control byte are left out (see above).
static inline int docket_peer_alt_names(SSL *ssl, char *out, size_t size) {
    if (size == 0) return 0;
    out[0] = 0;
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (cert == NULL) return 0;
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    int written = 0;
    size_t used = 0;
    if (names != NULL) {
        for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
            const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);
            const ASN1_IA5STRING *text = NULL;
            if (name->type == GEN_EMAIL) text = name->d.rfc822Name;
            else if (name->type == GEN_DNS) text = name->d.dNSName;
            if (text == NULL) continue;
            int length = ASN1_STRING_length(text);
            if (length <= 0 || used + (size_t)length + 2 > size) continue;
            if (docket_has_control_byte(ASN1_STRING_get0_data(text), length)) continue;
            memcpy(out + used, ASN1_STRING_get0_data(text), (size_t)length);
            used += (size_t)length;
            out[used++] = '\n';
            out[used] = 0;
            written++;
        }
        GENERAL_NAMES_free(names);
    }
    X509_free(cert);
    return written;
}

// A client asking to renegotiate (TLS 1.2) makes the server do a handshake's work again, on
// demand: a cheap way to burn its CPU. Servers refuse it.
static inline void docket_ssl_ctx_refuse_renegotiation(SSL_CTX *ctx) { SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION); }
