# The native UDP add-on (native/punchline_udp.c): Linux only; scripts/build-native.mjs skips it elsewhere.
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
  ],
}
