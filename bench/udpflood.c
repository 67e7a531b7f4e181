/*
 * udpflood.c - small-packet UDP load for `npm run bench` (compiled at bench
 * time into /tmp/vpcd-bench/; see docs/benchmark.md).
 *
 *   udpflood send <dst_ip> <port> <payload_bytes> <seconds> [batch] [flows]
 *   udpflood sink <port> <seconds>
 *
 * send: one connected UDP socket per flow (each gets its own ephemeral source
 *       port). Every flow first sends a probe (again every 200 ms, for at
 *       most 1 s) until the sink answers, so a stateful firewall on the path
 *       has seen the flow in both directions before the flood starts; then
 *       sendmmsg() in batches, round-robin over the flows, for <seconds>.
 *       Probe and flood errors (ICMP errors reported on the socket) are
 *       counted and the last one named in the output.
 * sink: recvmmsg() on <port>; answers the first datagram of every new source
 *       (address, port) with one 1-byte datagram, counts everything, exits
 *       after <seconds>.
 * Both print exactly one JSON object on stdout when they finish, and stop on
 * SIGINT/SIGTERM too (printing what they have). Nothing is sent anywhere but
 * to <dst_ip> (send) or back to a source that sent to us (sink).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 512
#define MAX_FLOWS 256
#define SEEN_SLOTS 4096 /* open addressing, power of two */

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void) {
  fprintf(stderr,
          "usage: udpflood send <dst_ip> <port> <payload_bytes> <seconds> [batch] [flows]\n"
          "       udpflood sink <port> <seconds>\n");
  return 2;
}

static int cmd_send(int argc, char **argv) {
  if (argc < 6) return usage();
  struct sockaddr_in dst;
  memset(&dst, 0, sizeof dst);
  dst.sin_family = AF_INET;
  dst.sin_port = htons((uint16_t)atoi(argv[3]));
  if (inet_pton(AF_INET, argv[2], &dst.sin_addr) != 1) return usage();
  int payload = atoi(argv[4]);
  double seconds = atof(argv[5]);
  int batch = argc > 6 ? atoi(argv[6]) : 64;
  int flows = argc > 7 ? atoi(argv[7]) : 1;
  if (payload < 1 || payload > 1472 || seconds <= 0 || batch < 1 || batch > MAX_BATCH || flows < 1 || flows > MAX_FLOWS)
    return usage();

  static int fd[MAX_FLOWS];
  for (int f = 0; f < flows; f++) {
    fd[f] = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd[f] < 0) { perror("socket"); return 1; }
    int sz = 4 << 20;
    if (setsockopt(fd[f], SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz) < 0)
      setsockopt(fd[f], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    if (connect(fd[f], (struct sockaddr *)&dst, sizeof dst) < 0) { perror("connect"); return 1; }
  }

  static unsigned char data[1472];
  for (int i = 0; i < payload; i++) data[i] = (unsigned char)(0x5a ^ i);

  /* Probe every unanswered flow every 200 ms and wait for the sink's answers (bounded: 1 s). An ICMP
   * error (e.g. port unreachable) shows up as POLLERR; it is read (clearing it) and reported. */
  int answered = 0, probes = 0, probe_errors = 0, last_errno = 0;
  static char seen_reply[MAX_FLOWS];
  static struct pollfd pfd[MAX_FLOWS];
  double probe_end = mono() + 1.0, next_probe = 0;
  while (answered < flows && !g_stop) {
    double t = mono();
    if (t >= probe_end) break;
    if (t >= next_probe) {
      for (int f = 0; f < flows; f++)
        if (!seen_reply[f]) {
          if (send(fd[f], data, (size_t)payload, 0) < 0) { probe_errors++; last_errno = errno; }
          probes++;
        }
      next_probe = t + 0.2;
    }
    for (int f = 0; f < flows; f++) { pfd[f].fd = fd[f]; pfd[f].events = POLLIN; pfd[f].revents = 0; }
    double wait = (next_probe < probe_end ? next_probe : probe_end) - mono();
    int r = poll(pfd, (nfds_t)flows, wait > 0 ? (int)(wait * 1000) + 1 : 0);
    if (r <= 0) continue;
    for (int f = 0; f < flows; f++) {
      if (pfd[f].revents & POLLERR) {
        int e = 0;
        socklen_t el = sizeof e;
        getsockopt(fd[f], SOL_SOCKET, SO_ERROR, &e, &el);
        if (e) { probe_errors++; last_errno = e; }
      }
      if (!(pfd[f].revents & POLLIN)) continue;
      char b[16];
      while (recv(fd[f], b, sizeof b, MSG_DONTWAIT) > 0) {
        if (!seen_reply[f]) { seen_reply[f] = 1; answered++; }
      }
    }
  }

  static struct mmsghdr msgs[MAX_BATCH];
  static struct iovec iov[MAX_BATCH];
  for (int i = 0; i < batch; i++) {
    iov[i].iov_base = data;
    iov[i].iov_len = (size_t)payload;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  uint64_t sent = 0, failed_calls = 0, calls = 0;
  int flood_errno = 0;
  double t0 = mono(), t_end = t0 + seconds, t1 = t0;
  int f = 0;
  while (!g_stop) {
    int r = sendmmsg(fd[f], msgs, (unsigned)batch, 0);
    if (r > 0) sent += (uint64_t)r;
    else { failed_calls++; flood_errno = errno; }
    if (++f == flows) f = 0;
    if ((++calls & 31) == 0) {
      t1 = mono();
      if (t1 >= t_end) break;
    }
  }
  t1 = mono();
  printf("{\"mode\":\"send\",\"payload\":%d,\"batch\":%d,\"flows\":%d,\"answered\":%d,\"probes\":%d,"
         "\"probe_errors\":%d,\"probe_error\":\"%s\",\"sent\":%llu,\"failed_calls\":%llu,\"flood_error\":\"%s\","
         "\"secs\":%.3f,\"pps\":%.0f}\n",
         payload, batch, flows, answered, probes, probe_errors, last_errno ? strerror(last_errno) : "", (unsigned long long)sent,
         (unsigned long long)failed_calls, flood_errno ? strerror(flood_errno) : "", t1 - t0, (double)sent / (t1 - t0));
  return 0;
}

struct seen { uint32_t addr; uint16_t port; uint8_t used; };

static int cmd_sink(int argc, char **argv) {
  if (argc < 4) return usage();
  int port = atoi(argv[2]);
  double seconds = atof(argv[3]);
  if (port < 1 || port > 65535 || seconds <= 0) return usage();
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) { perror("socket"); return 1; }
  int sz = 16 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
  struct sockaddr_in me;
  memset(&me, 0, sizeof me);
  me.sin_family = AF_INET;
  me.sin_port = htons((uint16_t)port);
  me.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(fd, (struct sockaddr *)&me, sizeof me) < 0) { perror("bind"); return 1; }
  struct timeval tv = {0, 100000}; /* wake up at least every 100 ms to check the clock */
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  fprintf(stderr, "sink ready on port %d\n", port);

  static char bufs[MAX_BATCH][2048];
  static struct sockaddr_in from[MAX_BATCH];
  static struct mmsghdr msgs[MAX_BATCH];
  static struct iovec iov[MAX_BATCH];
  for (int i = 0; i < MAX_BATCH; i++) {
    iov[i].iov_base = bufs[i];
    iov[i].iov_len = sizeof bufs[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &from[i];
  }
  static struct seen table[SEEN_SLOTS];
  int flows = 0, replies = 0;
  uint64_t got = 0;
  double t0 = mono(), t_end = t0 + seconds, t_first = 0, t_last = 0;
  while (!g_stop) {
    for (int i = 0; i < MAX_BATCH; i++) msgs[i].msg_hdr.msg_namelen = sizeof from[i];
    int r = recvmmsg(fd, msgs, MAX_BATCH, MSG_WAITFORONE, NULL);
    double t = mono();
    if (r > 0) {
      if (got == 0) t_first = t;
      got += (uint64_t)r;
      t_last = t;
      for (int i = 0; i < r; i++) {
        uint32_t a = from[i].sin_addr.s_addr;
        uint16_t p = from[i].sin_port;
        uint32_t h = (a * 2654435761u) ^ ((uint32_t)p * 40503u);
        for (int probe = 0; probe < SEEN_SLOTS; probe++) {
          struct seen *s = &table[(h + (uint32_t)probe) & (SEEN_SLOTS - 1)];
          if (s->used && s->addr == a && s->port == p) break;
          if (!s->used) {
            if (flows >= SEEN_SLOTS / 2) break; /* table full: stop answering new flows */
            s->used = 1; s->addr = a; s->port = p;
            flows++;
            if (sendto(fd, "r", 1, 0, (struct sockaddr *)&from[i], sizeof from[i]) == 1) replies++;
            break;
          }
        }
      }
    }
    if (t >= t_end) break;
  }
  double active = t_last - t_first;
  printf("{\"mode\":\"sink\",\"recv\":%llu,\"active_s\":%.3f,\"pps\":%.0f,\"flows\":%d,\"replies\":%d}\n",
         (unsigned long long)got, active, active > 0 ? (double)got / active : 0.0, flows, replies);
  return 0;
}

int main(int argc, char **argv) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: blocking calls return EINTR */
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc > 1 && strcmp(argv[1], "send") == 0) return cmd_send(argc, argv);
  if (argc > 1 && strcmp(argv[1], "sink") == 0) return cmd_sink(argc, argv);
  return usage();
}
