# The native add-ons (native/): Linux only; scripts/build-native.mjs skips them elsewhere.
{
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
        ['OS!="linux"', { 'type': 'none', 'sources': [] }],
      ],
    },
    # ChaCha20-Poly1305 for the packet path through Node's own OpenSSL (native/punchline_aead.c);
    # src/crypto/openssl-aead.ts falls back to libsodium where it is not built.
    {
      'target_name': 'punchline_aead',
      'sources': ['native/punchline_aead.c'],
      'defines': ['NAPI_VERSION=8'],
      'cflags_c': ['-std=gnu11', '-Wall', '-Wextra'],
      'configurations': {
        'Release': {
          'cflags!': ['-O3'],
          'cflags': ['-O2'],
        },
      },
      'conditions': [
        ['OS!="linux"', { 'type': 'none', 'sources': [] }],
      ],
    },
  ],
}
