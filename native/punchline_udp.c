/*
 * punchline_udp: batched UDP I/O for Node on Linux (N-API, C, libuv).
 *
 * Why: node:dgram costs one JS->C++ call, one SendWrap and one sendto(2) per datagram sent, and one
 * C++->JS callback plus a fresh Buffer and rinfo object per datagram received (~7 us of CPU per
 * 1400-byte datagram). Here JavaScript builds datagrams straight into a preallocated send arena and
 * hands a whole batch to the kernel in one call; received datagrams land in a preallocated receive
 * arena and JavaScript is called once per batch.
 *
 *   send:    sendmmsg(2); consecutive datagrams to one destination are coalesced into one message
 *            with UDP GSO (cmsg UDP_SEGMENT, Linux >= 4.18; udp(7), and "UDP GSO" in the kernel's
 *            Documentation/networking/segmentation-offloads.rst): the stack builds one large skb and
 *            splits it into datagrams of gso_size bytes as late as possible (in the NIC, or in
 *            software just before the driver), so one pass through the UDP/IP stack sends up to 128
 *            (UDP_MAX_SEGMENTS; 64 before Linux 6.10, found out at the first refusal).
 *   receive: recvmmsg(2) into the arena, then one JS callback. With UDP GRO (socket option UDP_GRO,
 *            Linux >= 5.0; udp(7)) the kernel hands over a run of same-size datagrams from one
 *            source as ONE message (a GSO send that crossed a veth or loopback whole, or a NIC's
 *            GRO), with its segment size in a UDP_GRO cmsg: one pass through the receive path for up
 *            to 64 datagrams (UDP_GRO_CNT_MAX) from a NIC's GRO, and for a whole GSO send (up to
 *            UDP_MAX_SEGMENTS, 128 on current kernels) that crossed loopback or a veth unsplit.
 *            Each message then gets a 64 KiB buffer, and the message is split into its datagrams in
 *            place: each rx entry names its offset in the arena (no copy). More datagrams than rx
 *            entries are handed to JavaScript in several calls, never dropped (do_read).
 *   loop:    the socket is a uv_poll_t on Node's own libuv loop (level-triggered epoll), so reads are
 *            interleaved fairly with timers and other I/O: one recvmmsg per readiness callback.
 *
 * The JavaScript side is src/node/udp/native-socket.ts; the raw interface is typed and documented in
 * src/node/udp/native-binding.ts (keep the two in step with this file).
 *
 * Slot metadata (Int32Array, 8 words per tx slot, 9 per rx entry; rx written here, tx by JavaScript):
 *   [0] length in bytes (rx: -1 if the datagram was truncated; tx after a failed send: -errno)
 *   [1] port  [2] family (4 | 6; tx: 0 = unparseable address)  [3] IPv6 scope id
 *   [4..7] the address bytes in network order (IPv4: the 4 bytes in word 4, words 5..7 zero)
 *   [8] rx only: the datagram's byte offset in the rx arena
 *
 * Threading: everything runs on the thread of the Node environment that opened the socket.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* Counter layout (Float64Array): keep in step with COUNTER in native-binding.ts. */
enum {
  C_SEND_SYSCALLS = 0,
  C_DATAGRAMS_SENT,
  C_SEND_ERRORS,
  C_LAST_SEND_ERRNO,
  C_RECV_SYSCALLS,
  C_DATAGRAMS_RECEIVED,
  C_TRUNCATED,
  C_GSO_SEGMENTS,
  C_SEND_STALLS,
  C_GRO_SEGMENTS,
  C_COUNT
};

#define META_WORDS 8
#define RX_META_WORDS 9
#define RX_OFFSET 8
/*
 * GRO receive: a coalesced message holds at most 64 KiB (the IP length field); each message gets a
 * buffer this large so none is ever truncated. Its segment count is not bounded by 64: GRO proper
 * stops at UDP_GRO_CNT_MAX (64), but a GSO send that reaches the socket unsplit (loopback, veth)
 * keeps all its segments, up to UDP_MAX_SEGMENTS (128 since Linux 6.10; include/linux/udp.h), and
 * 64 KiB of 1-byte segments would be more still. rx_layout plans for GRO_PLAN_SEGMENTS per message
 * (what our own 1500-MTU sends carry: 64 KiB / ~1.2 KiB ≤ 54); a batch with more datagrams than rx
 * entries is delivered to JavaScript in several calls (do_read), so no datagram is lost to it.
 */
#define GRO_BUFFER 65536
#define GRO_PLAN_SEGMENTS 64
/* Fewer GRO buffers than this per recvmmsg would read plain datagrams (ACKs, other peers) a few at a
 * time: then the plain layout is the better one. */
#define GRO_MIN_MESSAGES 4
/* Without GRO: datagrams per recvmmsg (each message one slot), as many as one GSO send carries. */
#define RX_PLAIN_MESSAGES 64
/* sendmmsg/recvmmsg take at most UIO_MAXIOV (1024) messages, and a message at most 1024 iovecs. */
#define MAX_SLOTS 1024
/* rx entries (datagrams per JS callback): GRO messages × their segments. */
#define MAX_RX_ENTRIES 4096
/*
 * GSO limits. The kernel refuses (EINVAL, udp_send_skb) more than UDP_MAX_SEGMENTS segments in one
 * send: 128 since Linux 6.10, 64 before. A socket starts at 128 and drops to 64 for good the first
 * time a message of more than 64 is refused while its first datagram alone goes through
 * (gso_refused). A UDP payload is at most 65535 - 8 (UDP) - 20 (IPv4) bytes. IPv6 would allow
 * 65527, but an IPv6 socket may be sending to an IPv4-mapped address: use the IPv4 limit for both.
 */
#define GSO_MAX_SEGMENTS 128
#define GSO_OLD_MAX_SEGMENTS 64
#define GSO_MAX_PAYLOAD 65507

typedef union {
  struct sockaddr sa;
  struct sockaddr_in in4;
  struct sockaddr_in6 in6;
} addr_t;

/* One outgoing message: slots [first, first + nslots) to one destination. */
typedef struct {
  uint32_t first;
  uint32_t nslots;
  /* > 0: the UDP_SEGMENT size (nslots > 1). */
  uint32_t segment;
  /* != 0: not sent, this errno is recorded for its slot (bad destination found in JS's meta). */
  int error;
} tx_msg_t;

typedef union {
  char buf[CMSG_SPACE(sizeof(uint16_t))];
  struct cmsghdr align;
} gso_cmsg_t;

typedef union {
  char buf[CMSG_SPACE(sizeof(int))];
  struct cmsghdr align;
} gro_cmsg_t;

typedef struct {
  napi_env env;
  int fd;
  int ipv6;
  uv_poll_t poll;
  int poll_events; /* events currently armed on `poll` (0: stopped) */
  int reading;
  int want_write; /* a send stalled: call onWritable once the socket is writable */

  /* Lifetime: closing (no more JS calls) -> uv_close -> uv_closed; freed once also finalized. */
  int closing;
  int uv_closed;
  int finalized;
  int teardown; /* the environment is going away: no more N-API calls except removing the hook */
  napi_async_cleanup_hook_handle cleanup;
  napi_async_context async_context;

  napi_ref refs[7]; /* rx arena, rx meta, tx arena, tx meta, counters, onRead, onWritable */

  uint8_t *rx_arena;
  size_t rx_arena_len;
  int32_t *rx_meta;
  uint32_t rx_slots;    /* rx entries: the most datagrams one JS callback delivers */
  uint32_t rx_messages; /* messages per recvmmsg in the current layout (see rx_layout) */
  int gro;              /* UDP_GRO is on: messages are GRO_BUFFER bytes and may be coalesced */
  int in_read;          /* inside do_read's JS calls: the rx layout must not change (js_set_gro) */
  uint8_t *tx_arena;
  int32_t *tx_meta;
  uint32_t tx_slots;
  uint32_t slot_size;
  double *counters;

  /* GSO state: probed at open; lowered or disabled when the kernel refuses a coalesced send. */
  int gso;
  uint32_t gso_max_segment;
  uint32_t gso_max_count; /* segments per GSO message: GSO_MAX_SEGMENTS, or 64 on an older kernel */
  int gso_wanted;        /* what open/setGso asked for and the kernel offered */
  uint32_t gso_recheck;  /* sendmmsg batches until a lowered/disabled GSO is tried again (0: none) */

  struct mmsghdr *rx_msgs;
  struct iovec *rx_iov;
  addr_t *rx_names;
  gro_cmsg_t *rx_cmsgs;
  int rx_used; /* messages whose msg_namelen the last recvmmsg overwrote */

  struct mmsghdr *tx_msgs;
  struct iovec *tx_iov;
  addr_t *tx_names;
  gso_cmsg_t *tx_cmsgs;
  tx_msg_t *tx_info;
} sock_t;

enum { REF_RX_ARENA, REF_RX_META, REF_TX_ARENA, REF_TX_META, REF_COUNTERS, REF_ON_READ, REF_ON_WRITABLE };

/* Tags the external so a stray value can never be taken for a socket. */
static const napi_type_tag SOCK_TAG = {0x70756e63686c696eULL, 0x655f7564705f7631ULL};

/* ---------------------------------------------------------------------------------------------- */
/* Helpers */

#define NAPI_OK(call)                                                                               \
  do {                                                                                              \
    if ((call) != napi_ok) return throw_napi_failure(env, #call);                                   \
  } while (0)

static napi_value throw_napi_failure(napi_env env, const char *what) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    const napi_extended_error_info *info = NULL;
    napi_get_last_error_info(env, &info);
    char msg[256];
    snprintf(msg, sizeof msg, "punchline_udp: %s failed (%s)", what,
             info && info->error_message ? info->error_message : "unknown N-API error");
    napi_throw_error(env, "ERR_PUNCHLINE_UDP_NATIVE", msg);
  }
  return NULL;
}

/* Throws an Error like Node's system errors: code 'EADDRINUSE', errno -98, syscall 'bind'. */
static napi_value throw_errno(napi_env env, const char *syscall, int err) {
  const char *name = uv_err_name(-err);
  char msg[256];
  snprintf(msg, sizeof msg, "%s %s (%s)", syscall, name, strerror(err));
  napi_value code, message, error, errno_value, syscall_value;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message) != napi_ok ||
      napi_create_error(env, code, message, &error) != napi_ok ||
      napi_create_int32(env, -err, &errno_value) != napi_ok ||
      napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_value) != napi_ok ||
      napi_set_named_property(env, error, "errno", errno_value) != napi_ok ||
      napi_set_named_property(env, error, "syscall", syscall_value) != napi_ok) {
    return throw_napi_failure(env, "creating an error");
  }
  napi_throw(env, error);
  return NULL;
}

static napi_value undefined(napi_env env) {
  napi_value u = NULL;
  napi_get_undefined(env, &u);
  return u;
}

/* The socket behind `value`, or NULL with a TypeError pending. Closed sockets are returned too. */
static sock_t *get_sock(napi_env env, napi_value value) {
  bool tagged = false;
  void *data = NULL;
  if (napi_check_object_type_tag(env, value, &SOCK_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, value, &data) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "not a punchline_udp socket handle");
    return NULL;
  }
  return (sock_t *)data;
}

static sock_t *get_open_sock(napi_env env, napi_value value) {
  sock_t *s = get_sock(env, value);
  if (s && s->closing) {
    napi_throw_error(env, "ERR_PUNCHLINE_UDP_CLOSED", "the socket is closed");
    return NULL;
  }
  return s;
}

static int get_u32(napi_env env, napi_value value, uint32_t *out, const char *what) {
  if (napi_get_value_uint32(env, value, out) != napi_ok) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a number", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  return 1;
}

static int get_typed(napi_env env, napi_value value, napi_typedarray_type want, void **data, size_t *length,
                     const char *what) {
  bool is = false;
  napi_typedarray_type type;
  if (napi_is_typedarray(env, value, &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, value, &type, length, data, NULL, NULL) != napi_ok || type != want) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s has the wrong type", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  return 1;
}

static void on_poll(uv_poll_t *handle, int status, int events);

/* Arms the poll handle for what is wanted now: reading, and POLLOUT after a stalled send. */
static int update_poll(sock_t *s) {
  int events = (s->reading ? UV_READABLE : 0) | (s->want_write ? UV_WRITABLE : 0);
  if (events == s->poll_events) return 0;
  int r = events ? uv_poll_start(&s->poll, events, on_poll) : uv_poll_stop(&s->poll);
  if (r == 0) s->poll_events = events;
  return r;
}

/* ---------------------------------------------------------------------------------------------- */
/* Lifetime */

static void free_sock(sock_t *s) {
  free(s->rx_msgs);
  free(s->rx_iov);
  free(s->rx_names);
  free(s->rx_cmsgs);
  free(s->tx_msgs);
  free(s->tx_iov);
  free(s->tx_names);
  free(s->tx_cmsgs);
  free(s->tx_info);
  free(s);
}

static void release_js(sock_t *s) {
  napi_env env = s->env;
  for (size_t i = 0; i < sizeof s->refs / sizeof s->refs[0]; i++) {
    if (s->refs[i]) napi_delete_reference(env, s->refs[i]);
    s->refs[i] = NULL;
  }
  if (s->async_context) {
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) == napi_ok) {
      napi_async_destroy(env, s->async_context);
      napi_close_handle_scope(env, scope);
    }
    s->async_context = NULL;
  }
}

static void on_uv_closed(uv_handle_t *handle) {
  sock_t *s = (sock_t *)handle->data;
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
  if (!s->teardown) release_js(s);
  /* Only now may the environment finish tearing down (see begin_close). */
  if (s->cleanup) napi_remove_async_cleanup_hook(s->cleanup);
  s->cleanup = NULL;
  s->uv_closed = 1;
  if (s->finalized) free_sock(s);
}

/*
 * Stops all I/O and JS calls at once; the fd and the memory go in the uv close callback (libuv needs
 * the fd open until the poll handle is closed). The async cleanup hook stays registered until then,
 * so the environment cannot be torn down between uv_close and its callback.
 */
static void begin_close(sock_t *s) {
  if (s->closing) return;
  s->closing = 1;
  s->reading = 0;
  s->want_write = 0;
  uv_close((uv_handle_t *)&s->poll, on_uv_closed);
}

static void on_env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  (void)handle;
  sock_t *s = (sock_t *)arg;
  s->teardown = 1;
  begin_close(s);
}

static void on_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  sock_t *s = (sock_t *)data;
  s->finalized = 1;
  /*
   * Through the wrapper this happens only at teardown (its callbacks reference it), but a raw handle
   * dropped without close() is collected while the environment lives: close it normally then, so
   * on_uv_closed releases the references to the arenas and callbacks (teardown is set only by
   * on_env_cleanup, where N-API calls are no longer allowed).
   */
  if (!s->closing) begin_close(s);
  if (s->uv_closed) free_sock(s);
}

/* ---------------------------------------------------------------------------------------------- */
/* Calling into JavaScript from the loop */

/* Calls a JS callback from a libuv callback: own handle scope, async context, and uncaught errors go
 * to process 'uncaughtException' as for any other Node callback. */
static void call_js(sock_t *s, int ref_index, int argc, const int32_t *argv_numbers) {
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, argv[1];
  /* napi_make_callback needs an object as `this` (undefined throws): the global, as for a plain call. */
  if (napi_get_reference_value(env, s->refs[ref_index], &fn) == napi_ok && fn != NULL &&
      napi_get_global(env, &recv) == napi_ok) {
    int ok = 1;
    for (int i = 0; i < argc && ok; i++) ok = napi_create_int32(env, argv_numbers[i], &argv[i]) == napi_ok;
    if (ok) {
      napi_status status = napi_make_callback(env, s->async_context, recv, fn, (size_t)argc, argv, NULL);
      bool pending = false;
      if (status != napi_ok && napi_is_exception_pending(env, &pending) == napi_ok && pending) {
        napi_value error;
        if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
      }
    }
  }
  napi_close_handle_scope(env, scope);
}

/* ---------------------------------------------------------------------------------------------- */
/* Receive */

static void write_rx_meta(int32_t *m, const addr_t *a) {
  if (a->sa.sa_family == AF_INET6) {
    m[1] = ntohs(a->in6.sin6_port);
    m[2] = 6;
    m[3] = (int32_t)a->in6.sin6_scope_id;
    memcpy(&m[4], &a->in6.sin6_addr, 16);
  } else {
    m[1] = ntohs(a->in4.sin_port);
    m[2] = 4;
    m[3] = 0;
    memcpy(&m[4], &a->in4.sin_addr, 4);
    m[5] = m[6] = m[7] = 0;
  }
}

/*
 * The receive messages over the arena: with GRO, rx_messages buffers of GRO_BUFFER bytes (planned
 * for GRO_PLAN_SEGMENTS datagrams each, so at most rx_slots / GRO_PLAN_SEGMENTS of them; more
 * segments are delivered in extra JS calls, see do_read); without, one slot_size buffer per
 * message, RX_PLAIN_MESSAGES at most. 0 messages: GRO cannot be used with this arena (the caller
 * falls back).
 */
static uint32_t rx_layout(sock_t *s, int gro) {
  size_t size = gro ? GRO_BUFFER : s->slot_size;
  size_t n = s->rx_arena_len / size;
  size_t cap = gro ? s->rx_slots / GRO_PLAN_SEGMENTS : (s->rx_slots < RX_PLAIN_MESSAGES ? s->rx_slots : RX_PLAIN_MESSAGES);
  if (n > cap) n = cap;
  if (n > MAX_SLOTS) n = MAX_SLOTS;
  for (size_t i = 0; i < n; i++) {
    s->rx_iov[i].iov_base = s->rx_arena + i * size;
    s->rx_iov[i].iov_len = size;
    struct msghdr *h = &s->rx_msgs[i].msg_hdr;
    h->msg_name = &s->rx_names[i];
    h->msg_namelen = sizeof(addr_t);
    h->msg_iov = &s->rx_iov[i];
    h->msg_iovlen = 1;
    h->msg_control = gro ? s->rx_cmsgs[i].buf : NULL;
    h->msg_controllen = gro ? sizeof s->rx_cmsgs[i].buf : 0;
    h->msg_flags = 0;
  }
  return (uint32_t)n;
}

/* Turns UDP_GRO on or off and lays the arena out for it; returns whether it is on. */
static int set_gro(sock_t *s, int want) {
  int on = want && rx_layout(s, 1) >= GRO_MIN_MESSAGES;
  if (on) {
    int one = 1;
    on = setsockopt(s->fd, SOL_UDP, UDP_GRO, &one, sizeof one) == 0;
  } else if (s->gro) {
    int zero = 0;
    setsockopt(s->fd, SOL_UDP, UDP_GRO, &zero, sizeof zero);
  }
  s->gro = on;
  s->rx_messages = rx_layout(s, on);
  s->rx_used = 0;
  return on;
}

/* The UDP_GRO segment size of a received message (0: a single datagram). */
static int gro_segment_size(struct msghdr *h) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int size;
      memcpy(&size, CMSG_DATA(c), sizeof size);
      return size;
    }
  }
  return 0;
}

/* Hands rx entries [0, entries) to JavaScript; false if the socket was closed meanwhile. */
static int deliver(sock_t *s, uint32_t entries, int delivered) {
  s->counters[C_DATAGRAMS_RECEIVED] += delivered;
  int32_t arg = (int32_t)entries;
  s->in_read = 1;
  call_js(s, REF_ON_READ, 1, &arg);
  s->in_read = 0;
  return !s->closing;
}

/*
 * One recvmmsg per readiness callback, then one JS call. If more is queued, epoll (level-triggered)
 * reports the socket again on the next loop turn, after timers and other handles had their turn.
 * A GRO message of len bytes with segment size g is datagrams of g bytes (the last may be shorter),
 * back to back in its buffer: each becomes an rx entry pointing into the buffer.
 * When the batch holds more datagrams than rx entries (messages with more segments than rx_layout
 * planned for), the entries filled so far go to JavaScript at once and the rest follow in further
 * calls: the arena is not written again until the next recvmmsg, and JavaScript is done with the
 * entries when its call returns (the views are valid only during onRead), so nothing is dropped.
 */
static void do_read(sock_t *s) {
  for (int i = 0; i < s->rx_used; i++) {
    struct msghdr *h = &s->rx_msgs[i].msg_hdr;
    h->msg_namelen = sizeof(addr_t);
    if (s->gro) h->msg_controllen = sizeof s->rx_cmsgs[i].buf;
  }
  int n;
  do n = recvmmsg(s->fd, s->rx_msgs, s->rx_messages, MSG_DONTWAIT, NULL);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    int err = errno;
    s->rx_used = 0;
    if (err == EAGAIN || err == EWOULDBLOCK) return;
    /* E.g. a pending ICMP error or ENOMEM: reported once (the kernel clears it), reading goes on. */
    int32_t arg = -err;
    call_js(s, REF_ON_READ, 1, &arg);
    return;
  }
  s->rx_used = n;
  s->counters[C_RECV_SYSCALLS] += 1;
  uint32_t entries = 0;
  int delivered = 0;
  for (int i = 0; i < n; i++) {
    struct msghdr *h = &s->rx_msgs[i].msg_hdr;
    uint32_t len = s->rx_msgs[i].msg_len;
    size_t base = (size_t)((uint8_t *)s->rx_iov[i].iov_base - s->rx_arena);
    /* MSG_TRUNC in the per-message flags: the datagram was longer than the slot (recvmsg(2)). */
    int truncated = (h->msg_flags & MSG_TRUNC) != 0;
    int segment = s->gro && !truncated ? gro_segment_size(h) : 0;
    h->msg_flags = 0;
    if (segment <= 0 || (uint32_t)segment >= len) segment = (int)len;
    uint32_t off = 0;
    do {
      if (entries == s->rx_slots) {
        if (!deliver(s, entries, delivered)) return;
        entries = 0;
        delivered = 0;
      }
      int32_t *m = s->rx_meta + (size_t)entries * RX_META_WORDS;
      write_rx_meta(m, &s->rx_names[i]);
      m[RX_OFFSET] = (int32_t)(base + off);
      entries++;
      if (truncated) {
        m[0] = -1;
        s->counters[C_TRUNCATED] += 1;
        break;
      }
      uint32_t size = len - off < (uint32_t)segment ? len - off : (uint32_t)segment;
      off += size;
      if (size > s->slot_size) {
        /* A GRO buffer holds what a slot would have truncated: drop it the same way. */
        m[0] = -1;
        s->counters[C_TRUNCATED] += 1;
        continue;
      }
      m[0] = (int32_t)size;
      delivered++;
      if ((uint32_t)segment < len) s->counters[C_GRO_SEGMENTS] += 1;
    } while (off < len);
  }
  /* None left only when a split delivery ended exactly at the batch's end. */
  if (entries > 0) deliver(s, entries, delivered);
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  sock_t *s = (sock_t *)handle->data;
  if (s->closing) return;
  if (status < 0) {
    /* libuv could not poll the fd: report it and stop polling rather than spin on the error. */
    s->reading = 0;
    s->want_write = 0;
    update_poll(s);
    int32_t arg = status; /* libuv errors are -errno on Unix */
    call_js(s, REF_ON_READ, 1, &arg);
    return;
  }
  if ((events & UV_READABLE) && s->reading) do_read(s);
  if (s->closing) return;
  if ((events & UV_WRITABLE) && s->want_write) {
    s->want_write = 0;
    update_poll(s);
    call_js(s, REF_ON_WRITABLE, 0, NULL);
  }
}

/* ---------------------------------------------------------------------------------------------- */
/* Send */

/* The sockaddr for a slot's destination, or an errno if it cannot be sent from this socket. */
static int tx_destination(const sock_t *s, const int32_t *m, addr_t *a, socklen_t *len) {
  int32_t family = m[2];
  uint32_t port = (uint32_t)m[1];
  if (port > 65535) return EINVAL;
  memset(a, 0, sizeof *a);
  if (family == 4 && !s->ipv6) {
    a->in4.sin_family = AF_INET;
    a->in4.sin_port = htons((uint16_t)port);
    memcpy(&a->in4.sin_addr, &m[4], 4);
    *len = sizeof a->in4;
    return 0;
  }
  if (family == 4 || family == 6) {
    if (!s->ipv6) return EAFNOSUPPORT; /* an IPv6 destination from an IPv4 socket */
    a->in6.sin6_family = AF_INET6;
    a->in6.sin6_port = htons((uint16_t)port);
    if (family == 4) {
      /* IPv4 from a dual-stack IPv6 socket: the IPv4-mapped address ::ffff:a.b.c.d (ipv6(7)). */
      a->in6.sin6_addr.s6_addr[10] = 0xff;
      a->in6.sin6_addr.s6_addr[11] = 0xff;
      memcpy(&a->in6.sin6_addr.s6_addr[12], &m[4], 4);
    } else {
      memcpy(&a->in6.sin6_addr, &m[4], 16);
      a->in6.sin6_scope_id = (uint32_t)m[3];
    }
    *len = sizeof a->in6;
    return 0;
  }
  return EINVAL; /* family 0: JavaScript could not parse the host */
}

static void record_sent(sock_t *s, const tx_msg_t *msg) {
  s->counters[C_DATAGRAMS_SENT] += msg->nslots;
  if (msg->segment) s->counters[C_GSO_SEGMENTS] += msg->nslots;
}

static void record_failed(sock_t *s, uint32_t first, uint32_t nslots, int err) {
  s->counters[C_SEND_ERRORS] += nslots;
  s->counters[C_LAST_SEND_ERRNO] = err;
  for (uint32_t k = first; k < first + nslots; k++) s->tx_meta[(size_t)k * META_WORDS] = -err;
}

/* EAGAIN: the socket's send buffer (SO_SNDBUF) is full; poll(2) reports POLLOUT once it drains. */
static int is_stall(int err) {
  return err == EAGAIN || err == EWOULDBLOCK;
}

/*
 * Groups slots [first, first + count) into messages: a run of datagrams to the same destination,
 * all of one size except a possibly shorter last, becomes one GSO message whose iovecs are the slots
 * themselves (no copy). Returns the number of messages.
 */
static uint32_t build_messages(sock_t *s, uint32_t first, uint32_t count) {
  uint32_t nm = 0;
  uint32_t end = first + count;
  for (uint32_t j = first; j < end;) {
    const int32_t *m = s->tx_meta + (size_t)j * META_WORDS;
    tx_msg_t *info = &s->tx_info[nm];
    struct msghdr *h = &s->tx_msgs[nm].msg_hdr;
    uint32_t len = (uint32_t)m[0];
    info->first = j;
    info->nslots = 1;
    info->segment = 0;
    info->error = m[0] < 0 || len > s->slot_size ? EMSGSIZE : 0;
    socklen_t namelen = 0;
    /* Port 0 cannot be sent to (udp_sendmsg answers EINVAL); catch it here so that a GSO message
     * to it is not mistaken for the kernel refusing GSO (gso_refusal). */
    if (!info->error && m[1] == 0) info->error = EINVAL;
    if (!info->error) info->error = tx_destination(s, m, &s->tx_names[nm], &namelen);
    s->tx_iov[j].iov_len = len;
    j++;
    if (!info->error && s->gso && len > 0 && len <= s->gso_max_segment) {
      uint32_t total = len;
      while (j < end && info->nslots < s->gso_max_count) {
        const int32_t *n = s->tx_meta + (size_t)j * META_WORDS;
        uint32_t next = (uint32_t)n[0];
        /* Same destination (port, family, scope, address: words 1..7), not longer than the first. */
        if (n[0] <= 0 || next > len || total + next > GSO_MAX_PAYLOAD ||
            memcmp(&n[1], &m[1], 7 * sizeof(int32_t)) != 0) {
          break;
        }
        s->tx_iov[j].iov_len = next;
        total += next;
        info->nslots++;
        j++;
        if (next < len) break; /* only the last segment may be shorter */
      }
      if (info->nslots > 1) info->segment = len;
    }
    h->msg_name = &s->tx_names[nm];
    h->msg_namelen = namelen;
    h->msg_iov = &s->tx_iov[info->first];
    h->msg_iovlen = info->nslots;
    h->msg_flags = 0;
    if (info->segment) {
      /* udp(7): UDP_SEGMENT as a cmsg sets the segment size for this send only. */
      gso_cmsg_t *c = &s->tx_cmsgs[nm];
      memset(c, 0, sizeof *c);
      h->msg_control = c->buf;
      h->msg_controllen = sizeof c->buf;
      struct cmsghdr *cm = CMSG_FIRSTHDR(h);
      cm->cmsg_level = SOL_UDP;
      cm->cmsg_type = UDP_SEGMENT;
      cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t segment = (uint16_t)info->segment;
      memcpy(CMSG_DATA(cm), &segment, sizeof segment);
    } else {
      h->msg_control = NULL;
      h->msg_controllen = 0;
    }
    nm++;
  }
  return nm;
}

/*
 * A coalesced send the kernel may have refused because of GSO itself (net/ipv4/udp.c, udp_send_skb;
 * Documentation/networking/segmentation-offloads.rst):
 *   EMSGSIZE (recent kernels) / EINVAL (older ones): a segment plus headers exceeds the route's MTU;
 *          a lone datagram would be IP-fragmented instead. EINVAL also: a kernel that predates
 *          UDP_SEGMENT as a cmsg.
 *   EIO    the route's device cannot checksum-offload, or the route is IPsec;
 *   EOPNOTSUPP / ENOPROTOOPT: not supported here.
 * The message's datagrams are then sent one by one. Only if the first of those goes through was GSO
 * to blame (EINVAL and EMSGSIZE have other causes too: a link-local destination without a scope, a
 * datagram too long for UDP): then a size error makes us coalesce only smaller segments from now on,
 * and the others turn GSO off for this socket.
 */
static int gso_suspect(const tx_msg_t *msg, int err) {
  return msg->segment &&
         (err == EMSGSIZE || err == EINVAL || err == EIO || err == EOPNOTSUPP || err == ENOPROTOOPT);
}

/*
 * How many send batches a lowered or disabled GSO stays so. A refusal can be one destination's doing
 * (an ICMP "fragmentation needed" lowers the path MTU of that host only, and anyone on the path can
 * send one): were it permanent, one peer could take full-size GSO from every other peer of the socket.
 * Re-trying after a while costs one refused send and its single-datagram fallback.
 */
#define GSO_RECHECK_BATCHES 1024u

static void gso_refused(sock_t *s, const tx_msg_t *msg, int err) {
  if (err == EINVAL && msg->nslots > GSO_OLD_MAX_SEGMENTS && s->gso_max_count > GSO_OLD_MAX_SEGMENTS) {
    /* A kernel before 6.10 (UDP_MAX_SEGMENTS 64): a property of the kernel, so for good. If the size
     * was to blame as well, the next refusal (of ≤ 64 segments) lowers the segment size. */
    s->gso_max_count = GSO_OLD_MAX_SEGMENTS;
    return;
  }
  if ((err == EMSGSIZE || err == EINVAL) && msg->segment > 1) {
    s->gso_max_segment = msg->segment - 1;
  } else {
    s->gso = 0;
  }
  s->gso_recheck = GSO_RECHECK_BATCHES;
}

/* Restores GSO after GSO_RECHECK_BATCHES send batches (see gso_refused). */
static void gso_tick(sock_t *s) {
  if (s->gso_recheck == 0 || --s->gso_recheck != 0) return;
  s->gso = s->gso_wanted;
  s->gso_max_segment = 65535;
}

/* Sends one slot on its own (after a GSO send failed): 1 sent, -1 failed (counted), 0 stalled. */
static int send_single(sock_t *s, uint32_t slot, const struct msghdr *proto) {
  struct msghdr h = *proto;
  h.msg_iov = &s->tx_iov[slot];
  h.msg_iovlen = 1;
  h.msg_control = NULL;
  h.msg_controllen = 0;
  ssize_t r;
  do {
    s->counters[C_SEND_SYSCALLS] += 1;
    r = sendmsg(s->fd, &h, 0);
  } while (r < 0 && errno == EINTR);
  if (r >= 0) {
    s->counters[C_DATAGRAMS_SENT] += 1;
    return 1;
  }
  if (is_stall(errno)) return 0;
  record_failed(s, slot, 1, errno);
  return -1;
}

/*
 * Sends slots [first, first + count). Returns how many leading slots were consumed (sent, or failed
 * and counted); fewer than count only when the send buffer filled (EAGAIN), in which case POLLOUT is
 * armed and onWritable() follows once.
 *
 * ENOBUFS is counted as loss and consumed, not treated as a stall: on Linux it means a qdisc or
 * device queue dropped the packet, or memory was short, and no POLLOUT edge is promised for it;
 * waiting for one could stall the sender forever, and retrying at once could spin (live-lock).
 */
static uint32_t do_send(sock_t *s, uint32_t first, uint32_t count) {
  gso_tick(s);
  uint32_t nm = build_messages(s, first, count);
  uint32_t mi = 0;
  uint32_t done = first; /* first slot not yet consumed */
  int stalled = 0;
  while (mi < nm && !stalled) {
    tx_msg_t *info = &s->tx_info[mi];
    if (info->error) {
      record_failed(s, info->first, info->nslots, info->error);
      mi++;
      done = info->first + info->nslots;
      continue;
    }
    uint32_t run = mi;
    while (run < nm && !s->tx_info[run].error) run++;
    s->counters[C_SEND_SYSCALLS] += 1;
    int r = sendmmsg(s->fd, &s->tx_msgs[mi], run - mi, 0);
    if (r > 0) {
      /* sendmmsg(2): an error after the first message is not reported; the next call meets it. */
      for (uint32_t k = 0; k < (uint32_t)r; k++) record_sent(s, &s->tx_info[mi + k]);
      mi += (uint32_t)r;
      done = s->tx_info[mi - 1].first + s->tx_info[mi - 1].nslots;
      continue;
    }
    int err = r == 0 ? EAGAIN : errno;
    if (err == EINTR) continue;
    if (is_stall(err)) {
      stalled = 1;
      break;
    }
    if (gso_suspect(info, err)) {
      for (uint32_t k = info->first; k < info->first + info->nslots; k++) {
        int sent = send_single(s, k, &s->tx_msgs[mi].msg_hdr);
        if (sent == 0) {
          stalled = 1;
          break;
        }
        done = k + 1;
        if (k != info->first) continue;
        if (sent > 0) {
          gso_refused(s, info, err);
        } else {
          /* Alone it fails too: the destination, not GSO. The rest goes the same way. */
          record_failed(s, k + 1, info->nslots - 1, s->tx_meta[(size_t)k * META_WORDS] * -1);
          done = info->first + info->nslots;
          break;
        }
      }
      if (stalled) break;
    } else {
      record_failed(s, info->first, info->nslots, err);
      done = info->first + info->nslots;
    }
    mi++;
  }
  if (stalled) {
    s->counters[C_SEND_STALLS] += 1;
    s->want_write = 1;
    if (update_poll(s) != 0) {
      /* Cannot wait for POLLOUT: drop what is left rather than stall forever. */
      s->want_write = 0;
      record_failed(s, done, first + count - done, ENOBUFS);
      done = first + count;
    }
  }
  return done - first;
}

/* ---------------------------------------------------------------------------------------------- */
/* JavaScript functions */

/* open(ipv6, rxArena, rxMeta, rxSlots, txArena, txMeta, txSlots, slotSize, counters, onRead, onWritable) */
static napi_value js_open(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 11;
  napi_value argv[11];
  NAPI_OK(napi_get_cb_info(env, cbinfo, &argc, argv, NULL, NULL));
  if (argc < 11) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "open() takes 11 arguments");
    return NULL;
  }
  bool ipv6;
  NAPI_OK(napi_get_value_bool(env, argv[0], &ipv6));
  void *rx_arena, *tx_arena, *rx_meta, *tx_meta, *counters;
  size_t rx_arena_len, tx_arena_len, rx_meta_len, tx_meta_len, counters_len;
  uint32_t rx_slots, tx_slots, slot_size;
  if (!get_typed(env, argv[1], napi_uint8_array, &rx_arena, &rx_arena_len, "rxArena") ||
      !get_typed(env, argv[2], napi_int32_array, &rx_meta, &rx_meta_len, "rxMeta") ||
      !get_u32(env, argv[3], &rx_slots, "rxSlots") ||
      !get_typed(env, argv[4], napi_uint8_array, &tx_arena, &tx_arena_len, "txArena") ||
      !get_typed(env, argv[5], napi_int32_array, &tx_meta, &tx_meta_len, "txMeta") ||
      !get_u32(env, argv[6], &tx_slots, "txSlots") || !get_u32(env, argv[7], &slot_size, "slotSize") ||
      !get_typed(env, argv[8], napi_float64_array, &counters, &counters_len, "counters")) {
    return NULL;
  }
  napi_valuetype t1, t2;
  NAPI_OK(napi_typeof(env, argv[9], &t1));
  NAPI_OK(napi_typeof(env, argv[10], &t2));
  if (t1 != napi_function || t2 != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "onRead and onWritable must be functions");
    return NULL;
  }
  if (rx_slots == 0 || tx_slots == 0 || rx_slots > MAX_RX_ENTRIES || tx_slots > MAX_SLOTS || slot_size == 0 ||
      slot_size > 65536 || rx_arena_len < slot_size || tx_arena_len < (size_t)tx_slots * slot_size ||
      rx_meta_len < (size_t)rx_slots * RX_META_WORDS ||
      tx_meta_len < (size_t)tx_slots * META_WORDS || counters_len < C_COUNT) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "open(): arena, meta or counter sizes do not match");
    return NULL;
  }

  uv_loop_t *loop;
  NAPI_OK(napi_get_uv_event_loop(env, &loop));

  sock_t *s = calloc(1, sizeof *s);
  if (!s) return throw_errno(env, "calloc", ENOMEM);
  s->env = env;
  s->ipv6 = ipv6;
  s->rx_arena = rx_arena;
  s->rx_arena_len = rx_arena_len;
  s->rx_meta = rx_meta;
  s->rx_slots = rx_slots;
  s->tx_arena = tx_arena;
  s->tx_meta = tx_meta;
  s->tx_slots = tx_slots;
  s->slot_size = slot_size;
  s->counters = counters;
  s->rx_msgs = calloc(rx_slots, sizeof *s->rx_msgs);
  s->rx_iov = calloc(rx_slots, sizeof *s->rx_iov);
  s->rx_names = calloc(rx_slots, sizeof *s->rx_names);
  s->rx_cmsgs = calloc(rx_slots, sizeof *s->rx_cmsgs);
  s->tx_msgs = calloc(tx_slots, sizeof *s->tx_msgs);
  s->tx_iov = calloc(tx_slots, sizeof *s->tx_iov);
  s->tx_names = calloc(tx_slots, sizeof *s->tx_names);
  s->tx_cmsgs = calloc(tx_slots, sizeof *s->tx_cmsgs);
  s->tx_info = calloc(tx_slots, sizeof *s->tx_info);
  if (!s->rx_msgs || !s->rx_iov || !s->rx_names || !s->rx_cmsgs || !s->tx_msgs || !s->tx_iov || !s->tx_names || !s->tx_cmsgs ||
      !s->tx_info) {
    free_sock(s);
    return throw_errno(env, "calloc", ENOMEM);
  }
  for (uint32_t i = 0; i < tx_slots; i++) s->tx_iov[i].iov_base = s->tx_arena + (size_t)i * slot_size;

  s->fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->fd < 0) {
    int err = errno;
    free_sock(s);
    return throw_errno(env, "socket", err);
  }
  if (ipv6) {
    /* Dual stack, as node:dgram (ipv6Only: false): IPv4 peers appear as ::ffff:a.b.c.d (ipv6(7)). */
    int off = 0;
    if (setsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) != 0) {
      int err = errno;
      close(s->fd);
      free_sock(s);
      return throw_errno(env, "setsockopt", err);
    }
  }
  /* GSO is there if the kernel knows the option (Linux >= 4.18); errors at send time refine it. */
  int segment = 0;
  socklen_t segment_len = sizeof segment;
  s->gso = getsockopt(s->fd, SOL_UDP, UDP_SEGMENT, &segment, &segment_len) == 0;
  s->gso_wanted = s->gso;
  s->gso_max_segment = 65535;
  s->gso_max_count = GSO_MAX_SEGMENTS;
  /* GRO where the kernel has it (Linux >= 5.0) and the arena holds its buffers; else plain slots. */
  set_gro(s, 1);

  int r = uv_poll_init_socket(loop, &s->poll, s->fd);
  if (r != 0) {
    close(s->fd);
    free_sock(s);
    return throw_errno(env, "uv_poll_init", -r);
  }
  s->poll.data = s;
  /* From here on the memory is released through uv_close (begin_close). */

  napi_value handle, name;
  napi_status st = napi_create_external(env, s, on_finalize, NULL, &handle);
  if (st != napi_ok) {
    s->finalized = 1; /* nothing else will finalize it */
    s->teardown = 1;  /* no references yet */
    begin_close(s);
    return throw_napi_failure(env, "napi_create_external");
  }
  /* On failure below, the finalizer frees `s` once the external is collected. */
  int ok = napi_type_tag_object(env, handle, &SOCK_TAG) == napi_ok &&
           napi_create_string_utf8(env, "punchline:udp", NAPI_AUTO_LENGTH, &name) == napi_ok &&
           napi_async_init(env, NULL, name, &s->async_context) == napi_ok;
  /* Strong references: the arenas' memory and the callbacks stay put until on_uv_closed. */
  static const int ref_args[7] = {
      [REF_RX_ARENA] = 1, [REF_RX_META] = 2, [REF_TX_ARENA] = 4, [REF_TX_META] = 5,
      [REF_COUNTERS] = 8, [REF_ON_READ] = 9,  [REF_ON_WRITABLE] = 10,
  };
  for (int i = 0; ok && i < 7; i++) ok = napi_create_reference(env, argv[ref_args[i]], 1, &s->refs[i]) == napi_ok;
  ok = ok && napi_add_async_cleanup_hook(env, on_env_cleanup, s, &s->cleanup) == napi_ok;
  if (!ok) {
    napi_value error = NULL;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) napi_get_and_clear_last_exception(env, &error);
    begin_close(s);
    if (error) napi_throw(env, error);
    else throw_napi_failure(env, "open");
    return NULL;
  }
  return handle;
}

/* Parses an IP literal (IPv6 optionally with %zone, by interface name or number). */
static int parse_host(const char *host, int32_t *m) {
  char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  size_t n = strlen(host);
  if (n >= sizeof buf) return 0;
  memcpy(buf, host, n + 1);
  memset(&m[3], 0, 5 * sizeof(int32_t));
  struct in_addr a4;
  if (inet_pton(AF_INET, buf, &a4) == 1) {
    memcpy(&m[4], &a4, 4);
    return 4;
  }
  char *zone = strchr(buf, '%');
  uint32_t scope = 0;
  if (zone) {
    *zone++ = '\0';
    if (*zone == '\0') return 0;
    char *end;
    unsigned long v = strtoul(zone, &end, 10);
    scope = *end == '\0' ? (uint32_t)v : if_nametoindex(zone);
    if (scope == 0) return 0;
  }
  struct in6_addr a6;
  if (inet_pton(AF_INET6, buf, &a6) != 1) return 0;
  memcpy(&m[4], &a6, 16);
  m[3] = (int32_t)scope;
  return 6;
}

/* parseAddress(host, meta: Int32Array, offset) -> 4 | 6 | 0: writes words 3..7 at meta[offset..]. */
static napi_value js_parse_address(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_OK(napi_get_cb_info(env, cbinfo, &argc, argv, NULL, NULL));
  char host[128];
  size_t len = 0;
  void *data;
  size_t length;
  uint32_t offset;
  if (argc < 3 || napi_get_value_string_utf8(env, argv[0], host, sizeof host, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "parseAddress(host: string, meta, offset)");
    return NULL;
  }
  if (!get_typed(env, argv[1], napi_int32_array, &data, &length, "meta") || !get_u32(env, argv[2], &offset, "offset")) {
    return NULL;
  }
  if ((size_t)offset + META_WORDS > length) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "parseAddress(): offset out of range");
    return NULL;
  }
  int32_t *m = (int32_t *)data + offset;
  int family = len < sizeof host - 1 ? parse_host(host, m) : 0;
  m[2] = family;
  napi_value result;
  NAPI_OK(napi_create_int32(env, family, &result));
  return result;
}

/*
 * formatAddress(meta: Int32Array, offset) -> the address text exactly as node:dgram's rinfo.address
 * (node's AddressToJS: uv_inet_ntop, plus %interface for a link-local IPv6 address with a scope).
 */
static napi_value js_format_address(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK(napi_get_cb_info(env, cbinfo, &argc, argv, NULL, NULL));
  void *data;
  size_t length;
  uint32_t offset;
  if (argc < 2 || !get_typed(env, argv[0], napi_int32_array, &data, &length, "meta") ||
      !get_u32(env, argv[1], &offset, "offset")) {
    return NULL;
  }
  if ((size_t)offset + META_WORDS > length) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "formatAddress(): offset out of range");
    return NULL;
  }
  const int32_t *m = (const int32_t *)data + offset;
  char text[INET6_ADDRSTRLEN + UV_IF_NAMESIZE + 2] = "";
  if (m[2] == 6) {
    struct in6_addr a6;
    memcpy(&a6, &m[4], 16);
    uv_inet_ntop(AF_INET6, &a6, text, sizeof text);
    if (IN6_IS_ADDR_LINKLOCAL(&a6) && m[3] > 0) {
      size_t n = strlen(text);
      size_t room = sizeof text - n - 1;
      text[n] = '%';
      if (uv_if_indextoiid((unsigned)m[3], text + n + 1, &room) != 0) text[n] = '\0';
    }
  } else {
    uv_inet_ntop(AF_INET, &m[4], text, sizeof text);
  }
  napi_value result;
  NAPI_OK(napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &result));
  return result;
}

/* bind(handle, host, port) */
static napi_value js_bind(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_OK(napi_get_cb_info(env, cbinfo, &argc, argv, NULL, NULL));
  sock_t *s = argc >= 3 ? get_open_sock(env, argv[0]) : NULL;
  if (!s) return NULL;
  char host[128];
  size_t len;
  uint32_t port;
  if (napi_get_value_string_utf8(env, argv[1], host, sizeof host, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "host must be a string");
    return NULL;
  }
  if (!get_u32(env, argv[2], &port, "port")) return NULL;
  int32_t m[META_WORDS] = {0};
  int family = len < sizeof host - 1 ? parse_host(host, m) : 0;
  if (port > 65535 || family == 0 || (family == 6 && !s->ipv6)) return throw_errno(env, "bind", EINVAL);
  m[1] = (int32_t)port;
  m[2] = family;
  addr_t a;
  socklen_t alen;
  int err = tx_destination(s, m, &a, &alen);
  if (err) return throw_errno(env, "bind", err);
  if (bind(s->fd, &a.sa, alen) != 0) return throw_errno(env, "bind", errno);
  return undefined(env);
}

/* setBufferSizes(handle, recv, send): SO_RCVBUF / SO_SNDBUF when > 0 (socket(7): the kernel doubles
 * the value and caps it at net.core.rmem_max / wmem_max). */
static napi_value js_set_buffer_sizes(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_OK(napi_get_cb_info(env, cbinfo, &argc, argv, NULL, NULL));
  sock_t *s = argc >= 3 ? get_open_sock(env, argv[0]) : NULL;
  if (!s) return NULL;
  uint32_t sizes[2];
  if (!get_u32(env, argv[1], &sizes[0], "recv") || !get_u32(env, argv[2], &sizes[1], "send")) return NULL;
  const int opts[2] = {SO_RCVBUF, SO_SNDBUF};
  for (int i = 0; i < 2; i++) {
    if (sizes[i] == 0) continue;
    int v = sizes[i] > INT32_MAX ? INT32_MAX : (int)sizes[i];
    if (setsockopt(s->fd, SOL_SOCKET, opts[i], &v, sizeof v) != 0) return throw_errno(env, "setsockopt", errno);
  }
  return undefined(env);
}

/* bufferSizes(handle) -> [recv, send] as the kernel has them (doubled, capped). */
static napi_value js_buffer_sizes(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, cbinfo, &argc, argv, NULL, NULL));
  sock_t *s = argc >= 1 ? get_open_sock(env, argv[0]) : NULL;
  if (!s) return NULL;
  napi_value result, v;
  NAPI_OK(napi_create_array_with_length(env, 2, &result));
  const int opts[2] = {SO_RCVBUF, SO_SNDBUF};
  for (uint32_t i = 0; i < 2; i++) {
    int size = 0;
    socklen_t len = sizeof size;
    if (getsockopt(s->fd, SOL_SOCKET, opts[i], &size, &len) != 0) return throw_errno(env, "getsockopt", errno);
    NAPI_OK(napi_create_int32(env, size, &v));
    NAPI_OK(napi_set_element(env, result, i, v));
  }
  return result;
}

/* localAddress(handle) -> [host, port, family(4 | 6)] */
static napi_value js_local_address(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, cbinfo, &argc, argv, NULL, NULL));
  sock_t *s = argc >= 1 ? get_open_sock(env, argv[0]) : NULL;
  if (!s) return NULL;
  addr_t a;
  socklen_t alen = sizeof a;
  if (getsockname(s->fd, &a.sa, &alen) != 0) return throw_errno(env, "getsockname", errno);
  int32_t m[META_WORDS] = {0};
  write_rx_meta(m, &a);
  char text[INET6_ADDRSTRLEN] = "";
  uv_inet_ntop(m[2] == 6 ? AF_INET6 : AF_INET, &m[4], text, sizeof text);
  napi_value result, host, port, family;
  NAPI_OK(napi_create_array_with_length(env, 3, &result));
  NAPI_OK(napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &host));
  NAPI_OK(napi_create_int32(env, m[1], &port));
  NAPI_OK(napi_create_int32(env, m[2], &family));
  NAPI_OK(napi_set_element(env, result, 0, host));
  NAPI_OK(napi_set_element(env, result, 1, port));
  NAPI_OK(napi_set_element(env, result, 2, family));
  return result;
}

/* startReading(handle) */
static napi_value js_start_reading(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, cbinfo, &argc, argv, NULL, NULL));
  sock_t *s = argc >= 1 ? get_open_sock(env, argv[0]) : NULL;
  if (!s) return NULL;
  s->reading = 1;
  int r = update_poll(s);
  if (r != 0) {
    s->reading = 0;
    return throw_errno(env, "uv_poll_start", -r);
  }
  return undefined(env);
}

/* send(handle, first, count) -> slots consumed (hot path: one call per batch) */
static napi_value js_send(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_OK(napi_get_cb_info(env, cbinfo, &argc, argv, NULL, NULL));
  sock_t *s = argc >= 3 ? get_open_sock(env, argv[0]) : NULL;
  if (!s) return NULL;
  uint32_t first, count;
  if (!get_u32(env, argv[1], &first, "first") || !get_u32(env, argv[2], &count, "count")) return NULL;
  if (first >= s->tx_slots || count > s->tx_slots - first) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "send(): slots out of range");
    return NULL;
  }
  uint32_t consumed = count ? do_send(s, first, count) : 0;
  napi_value result;
  NAPI_OK(napi_create_uint32(env, consumed, &result));
  return result;
}

/* setGso(handle, enabled) -> whether GSO is now in use (false if the kernel lacks it) */
static napi_value js_set_gso(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK(napi_get_cb_info(env, cbinfo, &argc, argv, NULL, NULL));
  sock_t *s = argc >= 2 ? get_open_sock(env, argv[0]) : NULL;
  if (!s) return NULL;
  bool enabled;
  NAPI_OK(napi_get_value_bool(env, argv[1], &enabled));
  if (!enabled) {
    s->gso = 0;
  } else {
    int segment = 0;
    socklen_t len = sizeof segment;
    s->gso = getsockopt(s->fd, SOL_UDP, UDP_SEGMENT, &segment, &len) == 0;
    s->gso_max_segment = 65535;
  }
  s->gso_wanted = s->gso;
  s->gso_recheck = 0;
  napi_value result;
  NAPI_OK(napi_get_boolean(env, s->gso != 0, &result));
  return result;
}

/* setGro(handle, enabled) -> whether UDP GRO is now on (false without kernel support or arena room).
 * For benchmarks and tests, before traffic: a coalesced message already queued when GRO is turned off
 * would be read into one plain slot and truncated. */
static napi_value js_set_gro(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK(napi_get_cb_info(env, cbinfo, &argc, argv, NULL, NULL));
  sock_t *s = argc >= 2 ? get_open_sock(env, argv[0]) : NULL;
  if (!s) return NULL;
  bool enabled;
  NAPI_OK(napi_get_value_bool(env, argv[1], &enabled));
  if (s->in_read) {
    /* do_read may still be handing out entries of this batch, laid out for the current mode. */
    napi_throw_error(env, "ERR_PUNCHLINE_UDP_IN_READ", "setGro() cannot be called from onRead");
    return NULL;
  }
  napi_value result;
  NAPI_OK(napi_get_boolean(env, set_gro(s, enabled) != 0, &result));
  return result;
}

/* ref(handle, boolean): whether the socket keeps the event loop alive (like dgram's ref/unref). */
static napi_value js_ref(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK(napi_get_cb_info(env, cbinfo, &argc, argv, NULL, NULL));
  sock_t *s = argc >= 2 ? get_sock(env, argv[0]) : NULL;
  if (!s) return NULL;
  bool on;
  NAPI_OK(napi_get_value_bool(env, argv[1], &on));
  if (!s->closing) {
    if (on) uv_ref((uv_handle_t *)&s->poll);
    else uv_unref((uv_handle_t *)&s->poll);
  }
  return undefined(env);
}

/* close(handle): idempotent; no callback runs after it returns. */
static napi_value js_close(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, cbinfo, &argc, argv, NULL, NULL));
  sock_t *s = argc >= 1 ? get_sock(env, argv[0]) : NULL;
  if (!s) return NULL;
  begin_close(s);
  return undefined(env);
}

static napi_value init(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    napi_callback fn;
  } functions[] = {
      {"open", js_open},
      {"bind", js_bind},
      {"setBufferSizes", js_set_buffer_sizes},
      {"bufferSizes", js_buffer_sizes},
      {"localAddress", js_local_address},
      {"startReading", js_start_reading},
      {"send", js_send},
      {"setGso", js_set_gso},
      {"setGro", js_set_gro},
      {"ref", js_ref},
      {"close", js_close},
      {"parseAddress", js_parse_address},
      {"formatAddress", js_format_address},
  };
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value fn;
    NAPI_OK(napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].fn, NULL, &fn));
    NAPI_OK(napi_set_named_property(env, exports, functions[i].name, fn));
  }
  napi_value counters;
  NAPI_OK(napi_create_uint32(env, C_COUNT, &counters));
  NAPI_OK(napi_set_named_property(env, exports, "counterCount", counters));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
