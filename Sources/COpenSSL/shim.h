#ifndef TOLLGATE_COPENSSL_SHIM_H
#define TOLLGATE_COPENSSL_SHIM_H

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/ec.h>
#include <openssl/bn.h>
#include <openssl/rand.h>
#include <openssl/pkcs12.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

// Each wrapper exists because the OpenSSL name is a function-like macro, which Swift cannot import.

// SSL_CTX_set_min_proto_version is a macro over SSL_CTX_ctrl.
static inline int tg_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}
// SSL_CTX_set_max_proto_version is a macro over SSL_CTX_ctrl.
static inline int tg_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}
// SSL_CTX_set_tlsext_servername_callback is a macro over SSL_CTX_callback_ctrl.
static inline void tg_SSL_CTX_set_servername_callback(SSL_CTX *ctx, int (*cb)(SSL *, int *, void *), void *arg) {
    SSL_CTX_set_tlsext_servername_callback(ctx, cb);
    SSL_CTX_set_tlsext_servername_arg(ctx, arg);
}
// SSL_CTX_set_session_cache_mode is a macro over SSL_CTX_ctrl.
static inline long tg_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_session_cache_mode(ctx, mode);
}
// SSL_CTX_set_mode is a macro over SSL_CTX_ctrl.
static inline long tg_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}
// SSL_CTX_set1_groups_list is a macro over SSL_CTX_ctrl.
static inline int tg_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) {
    return (int)SSL_CTX_set1_groups_list(ctx, list);
}
// SSL_CTX_add1_chain_cert is a macro over SSL_CTX_ctrl.
static inline int tg_SSL_CTX_add1_chain_cert(SSL_CTX *ctx, X509 *cert) {
    return (int)SSL_CTX_add1_chain_cert(ctx, cert);
}
// sk_GENERAL_NAME_num is a type-checking macro over OPENSSL_sk_num.
static inline int tg_sk_GENERAL_NAME_num(const GENERAL_NAMES *names) {
    return sk_GENERAL_NAME_num(names);
}
// sk_GENERAL_NAME_value is a type-checking macro over OPENSSL_sk_value.
static inline GENERAL_NAME *tg_sk_GENERAL_NAME_value(const GENERAL_NAMES *names, int index) {
    return sk_GENERAL_NAME_value(names, index);
}
// sk_X509_new_null / sk_X509_push / sk_X509_pop_free are macros too.
static inline STACK_OF(X509) *tg_sk_X509_new_null(void) {
    return sk_X509_new_null();
}
static inline int tg_sk_X509_push(STACK_OF(X509) *stack, X509 *cert) {
    return sk_X509_push(stack, cert);
}
static inline void tg_sk_X509_pop_free(STACK_OF(X509) *stack) {
    sk_X509_pop_free(stack, X509_free);
}
// The certificates a client sends besides its own stay parsed with the session for the connection's life
// (OpenSSL-based clients send their CA along: some 3 KB per idle connection). Only the intermediates the
// verification used are looked at again (re-verification on reload, with the stores then current), so the
// others — the trust anchor, which the store holds, and anything unrelated — are freed once the handshake is done.
// On the server side the list holds no leaf (SSL_get_peer_cert_chain(3)). TLS 1.3 only: its sessions go out in
// stateless tickets and stay this connection's, while a TLS 1.2 session is already in the cache that every
// loop's thread resumes from, where changing its list could race with a reader.
static inline void tg_release_unused_peer_chain(SSL *ssl) {
    if (SSL_version(ssl) != TLS1_3_VERSION) return;
    STACK_OF(X509) *sent = SSL_get_peer_cert_chain(ssl);
    STACK_OF(X509) *verified = SSL_get0_verified_chain(ssl);
    if (sent == NULL || verified == NULL) return;
    int anchor = sk_X509_num(verified) - 1;
    for (int i = sk_X509_num(sent) - 1; i >= 0; i--) {
        X509 *cert = sk_X509_value(sent, i);
        int used = 0;
        for (int j = 1; j < anchor && !used; j++) used = X509_cmp(sk_X509_value(verified, j), cert) == 0;
        if (!used) X509_free(sk_X509_delete(sent, i));
    }
}
// GENERAL_NAME holds its value in a union Swift reads awkwardly; these return the string forms.
static inline int tg_GENERAL_NAME_type(const GENERAL_NAME *name) {
    return name->type;
}
static inline const ASN1_STRING *tg_GENERAL_NAME_string(const GENERAL_NAME *name) {
    switch (name->type) {
    case GEN_DNS: return name->d.dNSName;
    case GEN_URI: return name->d.uniformResourceIdentifier;
    case GEN_EMAIL: return name->d.rfc822Name;
    case GEN_IPADD: return name->d.iPAddress;
    default: return NULL;
    }
}
// BIO_get_mem_data is a macro over BIO_ctrl.
static inline long tg_BIO_get_mem_data(BIO *bio, char **data) {
    return BIO_get_mem_data(bio, data);
}
// OPENSSL_free is a macro that adds file and line.
static inline void tg_OPENSSL_free(void *ptr) {
    OPENSSL_free(ptr);
}
// ERR_GET_REASON is a static inline in 3.x but a macro in older headers; keep one spelling.
static inline int tg_ERR_GET_REASON(unsigned long code) {
    return ERR_GET_REASON(code);
}

// SSL_set_min/max_proto_version are macros over SSL_ctrl.
static inline int tg_SSL_set_min_proto_version(SSL *ssl, int version) {
    return (int)SSL_set_min_proto_version(ssl, version);
}
static inline int tg_SSL_set_max_proto_version(SSL *ssl, int version) {
    return (int)SSL_set_max_proto_version(ssl, version);
}
// EVP_MAC_init needs an OSSL_PARAM array naming the digest, built with macros Swift cannot call.
static inline int tg_session_ticket_hmac_init(EVP_MAC_CTX *ctx, const unsigned char *key, size_t length) {
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0), OSSL_PARAM_construct_end()};
    return EVP_MAC_init(ctx, key, length, params);
}

// SSL_OP_* and XN_FLAG_* are macros built from casts and shifts, which Swift does not import.
static inline uint64_t tg_server_hardening_options(void) {
    return SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE;
}
static inline unsigned long tg_XN_FLAG_RFC2253(void) {
    return XN_FLAG_RFC2253;
}

#endif
