# The native add-ons (native/): Linux only; scripts/build-native.mjs skips them elsewhere.
# Each can be left out with a gyp variable (node-gyp rebuild -- -Dpunchline_aead=0), so that the build
# script can retry without the one that failed: one add-on failing to compile must not cost the other
# (scripts/native-plan.mjs). punchline_aead_fail=1 makes the AEAD fail to compile on purpose (tests).
{
  'variables': {
    'punchline_udp%': 1,
    'punchline_aead%': 1,
    'punchline_aead_fail%': 0,
  },
  'targets': [
    {
      'target_name': 'punchline_udp',
      'sources': ['native/punchline_udp.c'],
      'defines': ['NAPI_VERSION=8'],
      'cflags_c': ['-std=gnu11', '-Wall', '-Wextra'],
      'configurations': {
        'Release': {
          'cflags!': ['-O3'],
          'cflags': ['-O2'],
        },
      },
      'conditions': [
        ['OS!="linux" or punchline_udp==0', { 'type': 'none', 'sources': [] }],
      ],
    },
    # ChaCha20-Poly1305 for the packet path through Node's own OpenSSL (native/punchline_aead.c);
    # src/crypto/openssl-aead.ts falls back to libsodium where it is not built.
    {
      'target_name': 'punchline_aead',
      'sources': ['native/punchline_aead.c'],
      'defines': ['NAPI_VERSION=8'],
      'cflags_c': ['-std=gnu11', '-Wall', '-Wextra'],
      # Bind every symbol at load (process.dlopen is RTLD_LAZY): a Node that does not export the EVP_*
      # symbols (built --without-ssl, BoringSSL) then fails the require(), which the loader catches and
      # falls back to libsodium, instead of dying with "symbol lookup error" at the first EVP call.
      'ldflags': ['-Wl,-z,now'],
      'configurations': {
        'Release': {
          'cflags!': ['-O3'],
          'cflags': ['-O2'],
        },
      },
      'conditions': [
        ['OS!="linux" or punchline_aead==0', { 'type': 'none', 'sources': [] }],
        ['punchline_aead_fail==1', { 'defines': ['PUNCHLINE_AEAD_FORCED_FAILURE'] }],
      ],
    },
  ],
}
