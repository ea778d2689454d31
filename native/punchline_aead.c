/*
 * punchline_aead: ChaCha20-Poly1305 (RFC 8439, the AEAD of spec/crypto.md §Packet protection) for the
 * packet path through the OpenSSL that Node itself is linked with (EVP API; Node exports its libcrypto
 * symbols to add-ons, and its headers ship them in include/node/openssl). No new dependency.
 *
 * Why: libsodium's ChaCha20-Poly1305 (sodium-native) costs ~1.8 us per 1436-byte packet on this
 * class of CPU, OpenSSL's (AVX-512/AVX2 ChaCha20 and Poly1305 assembly) ~0.9 us through this add-on:
 * the same algorithm and bytes on the wire (src/crypto/openssl-aead.ts checks that at load against
 * libsodium, and falls back to it when this add-on is missing or disagrees).
 *
 * One context per key (OpenSSL keeps the expanded key; EVP_CIPHER_CTX_free cleanses it). Each call
 * seals or opens one packet in place: AAD = packet[0, headerLength), text after it, the 16-byte tag
 * after the text. open() zeroes the text when the tag does not verify (EVP decrypts before it checks
 * the tag; libsodium never releases unverified plaintext, and neither do we).
 *
 * Threading: a context is used by the thread that created it only (PacketProtection is single-threaded).
 */
#ifdef PUNCHLINE_AEAD_FORCED_FAILURE
/* Set by the gyp variable punchline_aead_fail=1 (PUNCHLINE_NATIVE_FAIL_AEAD=1): tests the build script's retry. */
#error "punchline_aead: forced build failure (PUNCHLINE_NATIVE_FAIL_AEAD=1)"
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define KEY_LENGTH 32
#define NONCE_LENGTH 12
#define TAG_LENGTH 16

typedef struct {
  EVP_CIPHER_CTX *enc;
  EVP_CIPHER_CTX *dec;
} aead_t;

static const napi_type_tag AEAD_TAG = {0x70756e63686c696eULL, 0x655f616561647631ULL};

static void free_aead(aead_t *a) {
  if (a->enc) EVP_CIPHER_CTX_free(a->enc);
  if (a->dec) EVP_CIPHER_CTX_free(a->dec);
  a->enc = a->dec = NULL;
}

static void on_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free_aead((aead_t *)data);
  free(data);
}

static aead_t *get_aead(napi_env env, napi_value value) {
  bool tagged = false;
  void *data = NULL;
  if (napi_check_object_type_tag(env, value, &AEAD_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, value, &data) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "not a punchline_aead context");
    return NULL;
  }
  return (aead_t *)data;
}

static int get_bytes(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  bool is = false;
  napi_typedarray_type type;
  void *p = NULL;
  if (napi_is_typedarray(env, value, &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, value, &type, length, &p, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a Uint8Array");
    return 0;
  }
  *data = p;
  return 1;
}

static napi_value int_result(napi_env env, int32_t n) {
  napi_value v = NULL;
  napi_create_int32(env, n, &v);
  return v;
}

/* create(key: Uint8Array(32)) -> context (freed by free() or when collected). Every failure throws:
 * returning NULL without an exception would hand JavaScript `undefined` as a context. */
static napi_value js_create(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "(key)");
    return NULL;
  }
  uint8_t *key;
  size_t key_length;
  if (!get_bytes(env, argv[0], &key, &key_length)) return NULL;
  if (key_length != KEY_LENGTH) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "the key must be 32 bytes");
    return NULL;
  }
  aead_t *a = calloc(1, sizeof *a);
  if (!a) {
    napi_throw_error(env, "ERR_PUNCHLINE_AEAD", "out of memory");
    return NULL;
  }
  a->enc = EVP_CIPHER_CTX_new();
  a->dec = EVP_CIPHER_CTX_new();
  if (!a->enc || !a->dec || EVP_EncryptInit_ex(a->enc, EVP_chacha20_poly1305(), NULL, key, NULL) != 1 ||
      EVP_DecryptInit_ex(a->dec, EVP_chacha20_poly1305(), NULL, key, NULL) != 1) {
    free_aead(a);
    free(a);
    napi_throw_error(env, "ERR_PUNCHLINE_AEAD", "OpenSSL could not set up ChaCha20-Poly1305");
    return NULL;
  }
  napi_value handle;
  if (napi_create_external(env, a, on_finalize, NULL, &handle) != napi_ok) {
    free_aead(a);
    free(a);
    napi_throw_error(env, "ERR_PUNCHLINE_AEAD", "could not create the context object");
    return NULL;
  }
  if (napi_type_tag_object(env, handle, &AEAD_TAG) != napi_ok) {
    /* The finalizer frees it when collected; the keys go now. */
    free_aead(a);
    napi_throw_error(env, "ERR_PUNCHLINE_AEAD", "could not tag the context object");
    return NULL;
  }
  return handle;
}

/* free(context): releases (and cleanses) the key schedule now; later calls with it fail (-1). */
static napi_value js_free(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "(context)");
    return NULL;
  }
  aead_t *a = get_aead(env, argv[0]);
  if (!a) return NULL;
  free_aead(a);
  return NULL;
}

/* The common arguments (context, packet, headerLength, length, nonce); 0 with an exception pending. */
static int get_args(napi_env env, napi_callback_info info, aead_t **a, uint8_t **packet, size_t *packet_length,
                    uint32_t *header_length, uint32_t *length, uint8_t **nonce) {
  size_t argc = 5;
  napi_value argv[5];
  size_t nonce_length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "(context, packet, headerLength, length, nonce)");
    return 0;
  }
  if (!(*a = get_aead(env, argv[0])) || !get_bytes(env, argv[1], packet, packet_length) ||
      !get_bytes(env, argv[4], nonce, &nonce_length)) {
    return 0;
  }
  if (napi_get_value_uint32(env, argv[2], header_length) != napi_ok ||
      napi_get_value_uint32(env, argv[3], length) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "headerLength and length must be numbers");
    return 0;
  }
  if (nonce_length != NONCE_LENGTH) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "the nonce must be 12 bytes");
    return 0;
  }
  return 1;
}

/* Encrypts packet[headerLength, end) in place with packet[0, headerLength) as AAD, the tag at
 * [end, end + 16); the caller has checked the lengths. Returns 1 on success. */
static int seal_in_place(aead_t *a, uint8_t *packet, uint32_t header_length, uint32_t end, const uint8_t *nonce) {
  int n;
  return EVP_EncryptInit_ex(a->enc, NULL, NULL, NULL, nonce) == 1 &&
         EVP_EncryptUpdate(a->enc, NULL, &n, packet, (int)header_length) == 1 &&
         EVP_EncryptUpdate(a->enc, packet + header_length, &n, packet + header_length, (int)(end - header_length)) == 1 &&
         EVP_EncryptFinal_ex(a->enc, packet + end, &n) == 1 &&
         EVP_CIPHER_CTX_ctrl(a->enc, EVP_CTRL_AEAD_GET_TAG, TAG_LENGTH, packet + end) == 1;
}

/* seal(context, packet, headerLength, end, nonce) -> end + 16, or -1 (lengths out of range, OpenSSL
 * failure, freed context): encrypts packet[headerLength, end) in place, the tag at [end, end + 16). */
static napi_value js_seal(napi_env env, napi_callback_info info) {
  aead_t *a;
  uint8_t *packet, *nonce;
  size_t packet_length;
  uint32_t header_length, end;
  if (!get_args(env, info, &a, &packet, &packet_length, &header_length, &end, &nonce)) return NULL;
  if (!a->enc || header_length > end || (size_t)end + TAG_LENGTH > packet_length || end > INT32_MAX - TAG_LENGTH) {
    return int_result(env, -1);
  }
  return int_result(env, seal_in_place(a, packet, header_length, end, nonce) ? (int32_t)(end + TAG_LENGTH) : -1);
}

/* sealFrom(context, packet, headerLength, end, nonce, source, sourceStart, at, length) -> end + 16, or -1:
 * copies source[sourceStart, sourceStart + length) to packet[at, at + length), then seals as seal() does.
 * The STREAM frame's data goes from the stream's send buffer into the datagram with one memcpy, instead
 * of two JS copies through a staging area (Node 20 has no allocation-free copy between typed arrays at
 * offsets). Copy then one EVP update, not an out-of-place update for the source part: measured, every
 * extra EVP_EncryptUpdate of the text costs ~150-300 ns (1436-B packet: 1.0 us in one update, 1.3-1.5
 * us in three), more than the copy. */
static napi_value js_seal_from(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 9) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS",
                          "(context, packet, headerLength, end, nonce, source, sourceStart, at, length)");
    return NULL;
  }
  aead_t *a;
  uint8_t *packet, *nonce, *source;
  size_t packet_length, nonce_length, source_length;
  uint32_t header_length, end, source_start, at, length;
  if (!(a = get_aead(env, argv[0])) || !get_bytes(env, argv[1], &packet, &packet_length) ||
      !get_bytes(env, argv[4], &nonce, &nonce_length) || !get_bytes(env, argv[5], &source, &source_length)) {
    return NULL;
  }
  if (napi_get_value_uint32(env, argv[2], &header_length) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &end) != napi_ok ||
      napi_get_value_uint32(env, argv[6], &source_start) != napi_ok ||
      napi_get_value_uint32(env, argv[7], &at) != napi_ok || napi_get_value_uint32(env, argv[8], &length) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "offsets and lengths must be numbers");
    return NULL;
  }
  if (nonce_length != NONCE_LENGTH) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "the nonce must be 12 bytes");
    return NULL;
  }
  if (!a->enc || header_length > at || (uint64_t)at + length > end || (size_t)end + TAG_LENGTH > packet_length ||
      end > INT32_MAX - TAG_LENGTH || (uint64_t)source_start + length > source_length) {
    return int_result(env, -1);
  }
  /* memmove: a caller could pass views of one buffer. */
  if (length > 0) memmove(packet + at, source + source_start, length);
  return int_result(env, seal_in_place(a, packet, header_length, end, nonce) ? (int32_t)(end + TAG_LENGTH) : -1);
}

/* open(context, packet, headerLength, packetLength, nonce) -> plaintext length, or -1 when the tag does
 * not verify (the text is zeroed) or the lengths are out of range. */
static napi_value js_open(napi_env env, napi_callback_info info) {
  aead_t *a;
  uint8_t *packet, *nonce;
  size_t packet_length;
  uint32_t header_length, length;
  if (!get_args(env, info, &a, &packet, &packet_length, &header_length, &length, &nonce)) return NULL;
  if (!a->dec || length > packet_length || length > INT32_MAX || (size_t)header_length + TAG_LENGTH > length) {
    return int_result(env, -1);
  }
  uint32_t end = length - TAG_LENGTH;
  uint8_t *text = packet + header_length;
  int text_length = (int)(end - header_length);
  int n;
  int ok = EVP_DecryptInit_ex(a->dec, NULL, NULL, NULL, nonce) == 1 &&
           EVP_DecryptUpdate(a->dec, NULL, &n, packet, (int)header_length) == 1 &&
           EVP_DecryptUpdate(a->dec, text, &n, text, text_length) == 1 &&
           EVP_CIPHER_CTX_ctrl(a->dec, EVP_CTRL_AEAD_SET_TAG, TAG_LENGTH, packet + end) == 1 &&
           EVP_DecryptFinal_ex(a->dec, packet + end, &n) == 1;
  if (!ok) {
    OPENSSL_cleanse(text, (size_t)text_length);
    return int_result(env, -1);
  }
  return int_result(env, text_length);
}

static napi_value init(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    napi_callback fn;
  } functions[] = {{"create", js_create}, {"free", js_free}, {"seal", js_seal}, {"sealFrom", js_seal_from}, {"open", js_open}};
  /* The OpenSSL the headers were (OPENSSL_VERSION_NUMBER): the loader (src/node/openssl-aead.ts) does not use
   * the add-on under a Node whose OpenSSL has another major version. */
  napi_value version;
  if (napi_create_uint32(env, (uint32_t)OPENSSL_VERSION_NUMBER, &version) != napi_ok ||
      napi_set_named_property(env, exports, "opensslVersionNumber", version) != napi_ok) {
    return NULL;
  }
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value fn;
    if (napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].fn, NULL, &fn) != napi_ok ||
        napi_set_named_property(env, exports, functions[i].name, fn) != napi_ok) {
      return NULL;
    }
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
