/*
 * A diagnostic for benches/run_overhead.rs, never part of alchemy-ci: sets
 * TCP_NODELAY on every IPv4 socket a process connects or accepts.
 *
 * Neither git's git:// client nor git daemon sets TCP_NODELAY, and both
 * write a request or a response in several small writes (a pkt-line's
 * length, then its payload; a pack, then its checksum). On loopback, Nagle's
 * algorithm then holds the last small write until the peer's delayed ACK,
 * about 40 ms later, once per exchange. Smart HTTP does not stall this way
 * (curl sets TCP_NODELAY and sends each request body whole), nor does
 * GitHub, so the stalls are an artefact of serving the bench with git
 * daemon. Running the bench under this shim shows the git daemon numbers
 * without them:
 *
 *   gcc -shared -fPIC -O2 -o /tmp/nodelay.so benches/support/nodelay.c -ldl
 *   LD_PRELOAD=/tmp/nodelay.so scripts/bench run_overhead
 *
 * (the bench passes LD_PRELOAD on to the processes it starts).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static void nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
  static int (*real)(int, const struct sockaddr *, socklen_t);
  if (!real)
    real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
  int r = real(fd, addr, len);
  if (addr && addr->sa_family == AF_INET)
    nodelay(fd);
  return r;
}

int accept(int fd, struct sockaddr *addr, socklen_t *len) {
  static int (*real)(int, struct sockaddr *, socklen_t *);
  if (!real)
    real = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept");
  int r = real(fd, addr, len);
  if (r >= 0)
    nodelay(r);
  return r;
}
