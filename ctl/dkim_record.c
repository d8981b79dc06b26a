/*
 * dkim_record.c - mlm-ctl dns dkim-record SELECTOR DOMAIN KEYFILE: the DNS
 * record that publishes the public half of a DKIM signing key (RFC 6376
 * 3.6.1), as a zone-file line to paste.
 *
 * KEYFILE (or - for standard input) holds an RSA or Ed25519 key, private
 * or public, PEM or DER, in any form OpenSSL's decoders read (PKCS#8 as
 * opendkim-genkey writes it, PKCS#1, SubjectPublicKeyInfo). Nothing secret
 * is printed: for RSA, p= is the DER SubjectPublicKeyInfo in base64 (what
 * opendkim-genkey publishes); for Ed25519 the raw 32-byte key (RFC 8463).
 * An encrypted private key is refused, never asked a passphrase for.
 * The TXT data is cut into character-strings of at most 255 bytes, the
 * most one DNS string holds.
 */
#include "ctl.h"

#include <errno.h>
#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

/* A key file is a few KB (RSA 16384 bits: 13 KB of PEM). */
#define KEY_FILE_MAX 65536
/* RFC 8301 3.2: verifiers ignore RSA keys shorter than 1024 bits. */
#define RSA_BITS_MIN 1024
#define TXT_STRING_MAX 255

/* Read at most KEY_FILE_MAX bytes of path ("-": stdin); 0 or -1 (why). */
static int key_file_read(const char *path, unsigned char **data, size_t *len,
                         char *why, size_t whylen)
{
    int from_stdin = strcmp(path, "-") == 0;
    FILE *fp = from_stdin ? stdin : fopen(path, "rb");
    if (fp == NULL) {
        snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char *buf = xmalloc(KEY_FILE_MAX + 1);
    size_t n = fread(buf, 1, KEY_FILE_MAX + 1, fp);
    int err = ferror(fp);
    if (!from_stdin)
        fclose(fp);
    if (err || n == 0 || n > KEY_FILE_MAX) {
        snprintf(why, whylen, err ? "cannot read %s"
                              : n == 0 ? "%s is empty"
                                       : "%s is larger than 64 KB: not a key",
                 from_stdin ? "standard input" : path);
        free(buf);
        return -1;
    }
    *data = buf;
    *len = n;
    return 0;
}

/* Never a passphrase: an encrypted key fails to decode. */
static int no_passphrase(char *buf, size_t size, size_t *len,
                         const OSSL_PARAM params[], void *arg)
{
    return 0;
}

/* The key in data (private or public, PEM or DER), or NULL. */
static EVP_PKEY *key_decode(const unsigned char *data, size_t len)
{
    EVP_PKEY *pkey = NULL;
    OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(
        &pkey, NULL, NULL, NULL, 0, NULL, NULL);
    if (dctx == NULL)
        return NULL;
    OSSL_DECODER_CTX_set_passphrase_cb(dctx, no_passphrase, NULL);
    const unsigned char *p = data;
    size_t left = len;
    if (OSSL_DECODER_from_data(dctx, &p, &left) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    OSSL_DECODER_CTX_free(dctx);
    return pkey;
}

/*
 * The public key as DKIM's k= and p= want it: *der (xmalloc'd) and its
 * length. 0, or -1 with why.
 */
static int key_public_bytes(EVP_PKEY *pkey, const char **k,
                            unsigned char **der, size_t *derlen, char *why,
                            size_t whylen)
{
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits < RSA_BITS_MIN) {
            snprintf(why, whylen, "an RSA key of %d bits: receivers ignore "
                     "keys under %d bits (RFC 8301); make a new one",
                     bits, RSA_BITS_MIN);
            return -1;
        }
        int n = i2d_PUBKEY(pkey, NULL);
        if (n <= 0) {
            snprintf(why, whylen, "cannot encode the RSA public key");
            return -1;
        }
        *der = xmalloc((size_t)n);
        unsigned char *p = *der;
        i2d_PUBKEY(pkey, &p);
        *derlen = (size_t)n;
        *k = "rsa";
        return 0;
    }
    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        size_t n = 0;
        if (EVP_PKEY_get_raw_public_key(pkey, NULL, &n) != 1 || n != 32) {
            snprintf(why, whylen, "cannot read the Ed25519 public key");
            return -1;
        }
        *der = xmalloc(n);
        EVP_PKEY_get_raw_public_key(pkey, *der, &n);
        *derlen = n;
        *k = "ed25519";
        return 0;
    }
    const char *type = EVP_PKEY_get0_type_name(pkey);
    snprintf(why, whylen, "the key is of type %s: DKIM keys are RSA or "
             "Ed25519", type ? type : "unknown");
    return -1;
}

/*
 * 1 when s is a host name: dot-separated labels of letters, digits and
 * inner hyphens, each 1 to 63 bytes. Nothing else may reach a zone file
 * (no quote, blank or control byte).
 */
static int is_dns_name(const char *s)
{
    size_t label = 0;
    for (const char *p = s;; p++) {
        if (*p == '.' || *p == '\0') {
            if (label == 0 || label > 63 || p[-1] == '-')
                return 0;
            if (*p == '\0')
                return 1;
            label = 0;
            continue;
        }
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || (*p == '-' && label > 0)))
            return 0;
        label++;
    }
}

/* "'NAME' is not WHAT", NAME escaped (a line break stays visible). */
static int refuse_name(const char *what, const char *name)
{
    char *safe = safe_text(name, 0);
    ctl_fail("'%s' is not %s", safe, what);
    free(safe);
    return EXIT_FAILED;
}

int cmd_dns_dkim_record(struct ctl_env *env, struct ctl_args *a)
{
    const char *selector = a->argv[0], *path = a->argv[2];
    const char *shown = strcmp(path, "-") == 0 ? "standard input" : path;
    char domain[256], why[512];
    size_t dlen = strlen(a->argv[1]);
    if (dlen > 0 && a->argv[1][dlen - 1] == '.')
        dlen--;
    if (dlen >= sizeof domain)
        return refuse_name("a domain name", a->argv[1]);
    memcpy(domain, a->argv[1], dlen);
    domain[dlen] = '\0';
    if (!is_dns_name(domain) || strchr(domain, '.') == NULL)
        return refuse_name("a domain name", a->argv[1]);
    if (!is_dns_name(selector))
        return refuse_name("a selector (letters, digits, hyphens and dots)",
                           selector);
    /* The owner name must fit a DNS name: 253 bytes without the root. */
    if (strlen(selector) + strlen("._domainkey.") + dlen > 253)
        return ctl_fail("%s._domainkey.%s is longer than a DNS name may be",
                        selector, domain);

    unsigned char *data;
    size_t len;
    if (key_file_read(path, &data, &len, why, sizeof why) == -1)
        return ctl_fail("%s", why);
    EVP_PKEY *pkey = key_decode(data, len);
    OPENSSL_cleanse(data, len);
    free(data);
    if (pkey == NULL)
        return ctl_fail("%s: no RSA or Ed25519 key in it (PEM or DER; an "
                        "encrypted private key is not read: give its public "
                        "key)", shown);
    const char *k;
    unsigned char *pub;
    size_t publen;
    int rc = key_public_bytes(pkey, &k, &pub, &publen, why, sizeof why);
    EVP_PKEY_free(pkey);
    if (rc == -1)
        return ctl_fail("%s: %s", shown, why);

    /* "v=DKIM1; k=K; p=" then base64 (4 bytes per 3, and a NUL). */
    size_t b64len = 4 * ((publen + 2) / 3);
    char *txt = xmalloc(32 + b64len + 1);
    int head = snprintf(txt, 32, "v=DKIM1; k=%s; p=", k);
    EVP_EncodeBlock((unsigned char *)txt + head, pub, (int)publen);
    free(pub);

    printf("%s._domainkey.%s. IN TXT (", selector, domain);
    size_t txtlen = strlen(txt);
    for (size_t off = 0; off < txtlen; off += TXT_STRING_MAX) {
        size_t n = txtlen - off < TXT_STRING_MAX ? txtlen - off
                                                 : TXT_STRING_MAX;
        printf("%s\"%.*s\"", off == 0 ? " " : "\n\t", (int)n, txt + off);
    }
    printf(" )\n");
    free(txt);
    return EXIT_OK;
}
