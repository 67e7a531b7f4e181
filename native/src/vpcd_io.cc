// vpcd_io.cc - batched packet I/O for vpcd's data plane (N-API, node-addon-api).
//
// One IoEngine owns a set of ports (AF_PACKET sockets bound to existing
// interfaces, or TAP devices) and one epoll fd watching all of them. The
// event loop watches the epoll fd with a single uv_poll: when any port is
// readable, JS is called once and drains frames with rx(); each rx() or tx()
// is ONE crossing into native code for a whole batch of frames.
//
// Frames live in a JS-owned ArrayBuffer (the arena), split into fixed rx
// slots. Descriptors are JS-owned typed arrays: for rx the engine writes
// (port, offset, length) per frame; for tx JS writes them and the engine sends.
// With vnet headers on (PACKET_VNET_HDR / IFF_VNET_HDR) every frame in the
// arena starts with the 10-byte struct virtio_net_hdr, so GSO super-frames
// and partial checksums pass through whole (see docs/architecture.md).
//
// Interfaces may live in another network namespace: the socket is created
// after setns(2) on the calling (main) thread, which then returns to its own
// namespace. A packet socket keeps the namespace it was created in.

#include <napi.h>
#include <uv.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

namespace {

constexpr int kVnetHdrLen = 10;  // sizeof(struct virtio_net_hdr)
constexpr int kMaxBatch = 1024;

enum PortKind { kPacket = 0, kTap = 1 };

struct Port {
  int fd = -1;
  int kind = kPacket;
  bool vnet = false;
  bool open = false;
  int ifindex = 0;
  std::string name;
  // counters kept natively (read by stats())
  double rxFrames = 0, txFrames = 0, rxTruncated = 0, txErrors = 0, txEagain = 0, kernelDrops = 0;
};

Napi::Error ErrnoError(Napi::Env env, const char* what, int err, const std::string& ifname) {
  std::string msg = std::string(what) + " " + ifname + ": " + strerror(err);
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, what));
  e.Set("interface", Napi::String::New(env, ifname));
  const char* code = nullptr;
  switch (err) {
    case ENODEV: code = "ENODEV"; break;
    case EPERM: code = "EPERM"; break;
    case EACCES: code = "EACCES"; break;
    case ENOENT: code = "ENOENT"; break;
    case EBUSY: code = "EBUSY"; break;
    case EINVAL: code = "EINVAL"; break;
    default: break;
  }
  if (code) e.Set("code", Napi::String::New(env, code));
  return e;
}

// Enter a network namespace for the lifetime of the guard (this thread only).
class NetnsGuard {
 public:
  NetnsGuard() = default;
  // Returns 0 or an errno.
  int Enter(const std::string& path) {
    if (path.empty()) return 0;
    orig_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (orig_ < 0) return errno;
    int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (target < 0) {
      int e = errno;
      close(orig_);
      orig_ = -1;
      return e;
    }
    int r = setns(target, CLONE_NEWNET);
    int e = errno;
    close(target);
    if (r < 0) {
      close(orig_);
      orig_ = -1;
      return e;
    }
    return 0;
  }
  ~NetnsGuard() {
    if (orig_ >= 0) {
      // Returning to our own namespace cannot reasonably fail (we came from it).
      if (setns(orig_, CLONE_NEWNET) < 0) perror("vpcd_io: setns back");
      close(orig_);
    }
  }

 private:
  int orig_ = -1;
};

class IoEngine : public Napi::ObjectWrap<IoEngine> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "IoEngine",
                       {
                           InstanceMethod("addPacketPort", &IoEngine::AddPacketPort),
                           InstanceMethod("addTapPort", &IoEngine::AddTapPort),
                           InstanceMethod("closePort", &IoEngine::ClosePort),
                           InstanceMethod("portInfo", &IoEngine::PortInfo),
                           InstanceMethod("rx", &IoEngine::Rx),
                           InstanceMethod("tx", &IoEngine::Tx),
                           InstanceMethod("start", &IoEngine::Start),
                           InstanceMethod("stop", &IoEngine::Stop),
                           InstanceMethod("stats", &IoEngine::Stats),
                           InstanceMethod("close", &IoEngine::CloseAll),
                       });
  }

  // new IoEngine(arena: ArrayBuffer, slotSize, slotCount,
  //              rxPort: Uint16Array, rxOff: Uint32Array, rxLen: Uint32Array,
  //              txPort: Uint16Array, txOff: Uint32Array, txLen: Uint32Array)
  explicit IoEngine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<IoEngine>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 9 || !info[0].IsArrayBuffer()) {
      Napi::TypeError::New(env, "IoEngine(arena, slotSize, slotCount, rxPort, rxOff, rxLen, txPort, txOff, txLen)")
          .ThrowAsJavaScriptException();
      return;
    }
    Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
    arenaRef_ = Napi::Persistent(ab);
    arena_ = static_cast<uint8_t*>(ab.Data());
    arenaLen_ = ab.ByteLength();
    slotSize_ = info[1].As<Napi::Number>().Uint32Value();
    slotCount_ = info[2].As<Napi::Number>().Uint32Value();
    if (slotCount_ == 0 || slotCount_ > kMaxBatch || (size_t)slotSize_ * slotCount_ > arenaLen_) {
      Napi::RangeError::New(env, "arena too small for slotSize*slotCount, or slotCount > 1024")
          .ThrowAsJavaScriptException();
      return;
    }
    if (!BindU16(info[3], &rxPort_, &rxPortRef_) || !BindU32(info[4], &rxOff_, &rxOffRef_) ||
        !BindU32(info[5], &rxLen_, &rxLenRef_) || !BindU16(info[6], &txPort_, &txPortRef_) ||
        !BindU32(info[7], &txOff_, &txOffRef_) || !BindU32(info[8], &txLen_, &txLenRef_)) {
      Napi::TypeError::New(env, "descriptor arrays: Uint16Array port, Uint32Array off/len, each >= slotCount")
          .ThrowAsJavaScriptException();
      return;
    }
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) {
      ErrnoError(env, "epoll_create1", errno, "").ThrowAsJavaScriptException();
      return;
    }
    msgs_.resize(kMaxBatch);
    iovs_.resize(kMaxBatch);
    addrs_.resize(kMaxBatch);
  }

  ~IoEngine() override { Shutdown(); }

 private:
  bool BindU16(const Napi::Value& v, uint16_t** p, Napi::Reference<Napi::Uint16Array>* ref) {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint16_array) return false;
    auto a = v.As<Napi::Uint16Array>();
    if (a.ElementLength() < slotCount_) return false;
    *p = a.Data();
    *ref = Napi::Persistent(a);
    descLen_ = a.ElementLength();
    return true;
  }
  bool BindU32(const Napi::Value& v, uint32_t** p, Napi::Reference<Napi::Uint32Array>* ref) {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) return false;
    auto a = v.As<Napi::Uint32Array>();
    if (a.ElementLength() < slotCount_) return false;
    *p = a.Data();
    *ref = Napi::Persistent(a);
    return true;
  }

  int RegisterPort(Port&& p) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    int id = -1;
    for (size_t i = 0; i < ports_.size(); i++)
      if (!ports_[i].open) { id = (int)i; break; }
    if (id < 0) { id = (int)ports_.size(); ports_.emplace_back(); }
    ev.data.u32 = (uint32_t)id;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, p.fd, &ev) < 0) return -errno;
    p.open = true;
    ports_[id] = std::move(p);
    return id;
  }

  // addPacketPort(ifname, netnsPath|null, vnetHdr: boolean) -> port id
  Napi::Value AddPacketPort(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsString()) {
      Napi::TypeError::New(env, "addPacketPort(ifname, netns|null, vnetHdr)").ThrowAsJavaScriptException();
      return env.Null();
    }
    std::string ifname = info[0].As<Napi::String>();
    std::string netns = info[1].IsString() ? std::string(info[1].As<Napi::String>()) : std::string();
    bool vnet = info[2].ToBoolean();
    if (ifname.empty() || ifname.size() >= IFNAMSIZ) {
      ErrnoError(env, "ifname", EINVAL, ifname).ThrowAsJavaScriptException();
      return env.Null();
    }
    NetnsGuard ns;
    int e = ns.Enter(netns);
    if (e) {
      ErrnoError(env, "setns", e, ifname + " (netns " + netns + ")").ThrowAsJavaScriptException();
      return env.Null();
    }
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (fd < 0) {
      ErrnoError(env, "socket", errno, ifname).ThrowAsJavaScriptException();
      return env.Null();
    }
    auto fail = [&](const char* what) {
      int err = errno;
      close(fd);
      ErrnoError(env, what, err, ifname).ThrowAsJavaScriptException();
      return env.Null();
    };
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
    if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) return fail("SIOCGIFINDEX");
    int ifindex = ifr.ifr_ifindex;
    int one = 1;
    if (vnet && setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0) return fail("PACKET_VNET_HDR");
    // Only frames arriving on the interface: not what we (or others) send out of it.
    setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
    // Our tx frames skip the qdisc layer (veth has none worth keeping).
    setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
    int buf = 8 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) < 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) < 0)
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = ifindex;
    if (bind(fd, (struct sockaddr*)&sll, sizeof sll) < 0) return fail("bind");
    // The router answers for MACs that are not the interface's own: receive
    // everything. The membership is dropped by the kernel when the socket closes,
    // so the interface is left as it was.
    struct packet_mreq mr;
    memset(&mr, 0, sizeof mr);
    mr.mr_ifindex = ifindex;
    mr.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) return fail("PACKET_ADD_MEMBERSHIP");
    // Drain what queued between socket() and bind() (frames of any interface).
    uint8_t junk[64];
    while (recv(fd, junk, sizeof junk, MSG_DONTWAIT | MSG_TRUNC) >= 0) {
    }
    Port p;
    p.fd = fd;
    p.kind = kPacket;
    p.vnet = vnet;
    p.ifindex = ifindex;
    p.name = ifname;
    int id = RegisterPort(std::move(p));
    if (id < 0) {
      errno = -id;
      return fail("epoll_ctl");
    }
    return Napi::Number::New(env, id);
  }

  // addTapPort(name, netnsPath|null, vnetHdr: boolean) -> port id. Creates (or attaches to) a TAP device.
  Napi::Value AddTapPort(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsString()) {
      Napi::TypeError::New(env, "addTapPort(name, netns|null, vnetHdr)").ThrowAsJavaScriptException();
      return env.Null();
    }
    std::string name = info[0].As<Napi::String>();
    std::string netns = info[1].IsString() ? std::string(info[1].As<Napi::String>()) : std::string();
    bool vnet = info[2].ToBoolean();
    if (name.empty() || name.size() >= IFNAMSIZ) {
      ErrnoError(env, "ifname", EINVAL, name).ThrowAsJavaScriptException();
      return env.Null();
    }
    NetnsGuard ns;
    int e = ns.Enter(netns);
    if (e) {
      ErrnoError(env, "setns", e, name + " (netns " + netns + ")").ThrowAsJavaScriptException();
      return env.Null();
    }
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      ErrnoError(env, "open /dev/net/tun", errno, name).ThrowAsJavaScriptException();
      return env.Null();
    }
    auto fail = [&](const char* what) {
      int err = errno;
      close(fd);
      ErrnoError(env, what, err, name).ThrowAsJavaScriptException();
      return env.Null();
    };
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) return fail("TUNSETIFF");
    if (vnet) {
      int hl = kVnetHdrLen;
      if (ioctl(fd, TUNSETVNETHDRSZ, &hl) < 0) return fail("TUNSETVNETHDRSZ");
      // Accept partial checksums and TSO super-frames from the kernel side.
      unsigned off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
      if (ioctl(fd, TUNSETOFFLOAD, off) < 0) return fail("TUNSETOFFLOAD");
    }
    int sfd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int ifindex = 0;
    if (sfd >= 0) {
      struct ifreq q;
      memset(&q, 0, sizeof q);
      strncpy(q.ifr_name, ifr.ifr_name, IFNAMSIZ - 1);
      if (ioctl(sfd, SIOCGIFINDEX, &q) == 0) ifindex = q.ifr_ifindex;
      close(sfd);
    }
    Port p;
    p.fd = fd;
    p.kind = kTap;
    p.vnet = vnet;
    p.ifindex = ifindex;
    p.name = ifr.ifr_name;
    int id = RegisterPort(std::move(p));
    if (id < 0) {
      errno = -id;
      return fail("epoll_ctl");
    }
    return Napi::Number::New(env, id);
  }

  Port* GetPort(const Napi::CallbackInfo& info, int idx) {
    if ((size_t)info.Length() <= (size_t)idx || !info[idx].IsNumber()) return nullptr;
    int id = info[idx].As<Napi::Number>().Int32Value();
    if (id < 0 || (size_t)id >= ports_.size() || !ports_[id].open) return nullptr;
    return &ports_[id];
  }

  Napi::Value ClosePort(const Napi::CallbackInfo& info) {
    Port* p = GetPort(info, 0);
    if (p) {
      epoll_ctl(epfd_, EPOLL_CTL_DEL, p->fd, nullptr);
      close(p->fd);
      p->fd = -1;
      p->open = false;
    }
    return info.Env().Undefined();
  }

  // portInfo(id) -> { name, ifindex, mac: Buffer(6), mtu, vnet, kind }
  Napi::Value PortInfo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Port* p = GetPort(info, 0);
    if (!p) return env.Null();
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", p->name);
    o.Set("ifindex", p->ifindex);
    o.Set("vnet", p->vnet);
    o.Set("kind", p->kind == kTap ? "tap" : "packet");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, p->name.c_str(), IFNAMSIZ - 1);
    // The ioctls are namespace-relative for name lookups; use the port's own fd for packet sockets.
    int fd = p->fd;
    if (p->kind == kPacket && ioctl(fd, SIOCGIFHWADDR, &ifr) == 0) {
      o.Set("mac", Napi::Buffer<uint8_t>::Copy(env, (uint8_t*)ifr.ifr_hwaddr.sa_data, 6));
    }
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, p->name.c_str(), IFNAMSIZ - 1);
    if (p->kind == kPacket && ioctl(fd, SIOCGIFMTU, &ifr) == 0) o.Set("mtu", ifr.ifr_mtu);
    return o;
  }

  // rx(maxFrames) -> number of frames written to slots 0..n-1 and to the rx descriptors.
  // Never blocks. Frames from all readable ports, fair round robin across calls.
  Napi::Value Rx(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t max = info.Length() > 0 ? info[0].As<Napi::Number>().Uint32Value() : slotCount_;
    if (max > slotCount_) max = slotCount_;
    uint32_t n = 0;
    size_t np = ports_.size();
    if (np == 0 || max == 0) return Napi::Number::New(env, 0);
    // Which ports have data? epoll_wait(0) is one syscall for all of them.
    struct epoll_event evs[64];
    int ne = epoll_wait(epfd_, evs, 64, 0);
    if (ne <= 0) return Napi::Number::New(env, 0);
    // Start at a rotating position so one busy port cannot starve the others.
    int start = rr_++ % ne;
    for (int k = 0; k < ne && n < max; k++) {
      uint32_t id = evs[(start + k) % ne].data.u32;
      if (id >= np || !ports_[id].open) continue;
      Port& p = ports_[id];
      uint32_t want = max - n;
      // Share the batch: with several ready ports, give each at most an equal part first.
      if (ne > 1) {
        uint32_t share = (max + ne - 1) / ne;
        if (share < want) want = share;
      }
      n += p.kind == kPacket ? RxPacket(p, id, n, want) : RxTap(p, id, n, want);
    }
    return Napi::Number::New(env, n);
  }

  uint32_t RxPacket(Port& p, uint32_t id, uint32_t first, uint32_t want) {
    for (uint32_t i = 0; i < want; i++) {
      uint32_t slot = first + i;
      iovs_[i].iov_base = arena_ + (size_t)slot * slotSize_;
      iovs_[i].iov_len = slotSize_;
      memset(&msgs_[i], 0, sizeof(struct mmsghdr));
      msgs_[i].msg_hdr.msg_iov = &iovs_[i];
      msgs_[i].msg_hdr.msg_iovlen = 1;
      msgs_[i].msg_hdr.msg_name = &addrs_[i];
      msgs_[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_ll);
    }
    int r = recvmmsg(p.fd, msgs_.data(), want, MSG_DONTWAIT, nullptr);
    if (r <= 0) return 0;
    uint32_t out = 0;
    for (int i = 0; i < r; i++) {
      uint32_t len = msgs_[i].msg_len;
      // Outgoing copies (kernels without PACKET_IGNORE_OUTGOING) and truncated frames are not ours.
      if (addrs_[i].sll_pkttype == PACKET_OUTGOING) continue;
      if (msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) {
        p.rxTruncated++;
        continue;
      }
      uint32_t slot = first + out;
      if ((uint32_t)i != out) memmove(arena_ + (size_t)slot * slotSize_, arena_ + (size_t)(first + i) * slotSize_, len);
      rxPort_[slot] = (uint16_t)id;
      rxOff_[slot] = slot * slotSize_;
      rxLen_[slot] = len;
      out++;
    }
    p.rxFrames += out;
    return out;
  }

  uint32_t RxTap(Port& p, uint32_t id, uint32_t first, uint32_t want) {
    uint32_t out = 0;
    for (uint32_t i = 0; i < want; i++) {
      uint32_t slot = first + out;
      ssize_t r = read(p.fd, arena_ + (size_t)slot * slotSize_, slotSize_);
      if (r <= 0) break;
      rxPort_[slot] = (uint16_t)id;
      rxOff_[slot] = slot * slotSize_;
      rxLen_[slot] = (uint32_t)r;
      out++;
    }
    p.rxFrames += out;
    return out;
  }

  // tx(count) -> frames handed to the kernel. Consecutive descriptors for the same
  // port go out in one sendmmsg. Frames that the kernel refuses are counted, not retried.
  Napi::Value Tx(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t count = info[0].As<Napi::Number>().Uint32Value();
    if (count > descLen_) count = (uint32_t)descLen_;
    uint32_t sent = 0;
    uint32_t i = 0;
    while (i < count) {
      uint32_t id = txPort_[i];
      uint32_t j = i;
      while (j < count && txPort_[j] == id && j - i < (uint32_t)kMaxBatch) j++;
      if (id < ports_.size() && ports_[id].open) sent += TxRun(ports_[id], i, j);
      i = j;
    }
    return Napi::Number::New(env, sent);
  }

  uint32_t TxRun(Port& p, uint32_t from, uint32_t to) {
    uint32_t n = to - from;
    uint32_t ok = 0;
    if (p.kind == kTap) {
      for (uint32_t k = from; k < to; k++) {
        if (!InArena(txOff_[k], txLen_[k])) { p.txErrors++; continue; }
        if (write(p.fd, arena_ + txOff_[k], txLen_[k]) >= 0) ok++;
        else p.txErrors++;
      }
      p.txFrames += ok;
      return ok;
    }
    uint32_t m = 0;
    for (uint32_t k = 0; k < n; k++) {
      uint32_t d = from + k;
      if (!InArena(txOff_[d], txLen_[d])) { p.txErrors++; continue; }
      iovs_[m].iov_base = arena_ + txOff_[d];
      iovs_[m].iov_len = txLen_[d];
      memset(&msgs_[m], 0, sizeof(struct mmsghdr));
      msgs_[m].msg_hdr.msg_iov = &iovs_[m];
      msgs_[m].msg_hdr.msg_iovlen = 1;
      m++;
    }
    uint32_t done = 0;
    int spins = 0;
    while (done < m) {
      int r = sendmmsg(p.fd, msgs_.data() + done, m - done, MSG_DONTWAIT);
      if (r > 0) {
        done += r;
        ok += r;
        continue;
      }
      if (r < 0 && (errno == EAGAIN || errno == ENOBUFS) && spins++ < 64) {
        p.txEagain++;
        continue;  // the socket buffer drains quickly on veth; bounded retries
      }
      // A frame the kernel refuses (EMSGSIZE, bad vnet header, link down) is dropped and counted;
      // the rest of the run still goes out.
      p.txErrors++;
      done++;
    }
    p.txFrames += ok;
    return ok;
  }

  bool InArena(uint32_t off, uint32_t len) const {
    return len > 0 && (size_t)off + len <= arenaLen_;
  }

  // start(callback): call callback() whenever any port is readable.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsFunction()) {
      Napi::TypeError::New(env, "start(callback)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (polling_) return env.Undefined();
    callback_ = Napi::Persistent(info[0].As<Napi::Function>());
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll_ = new uv_poll_t;
    poll_->data = this;
    if (uv_poll_init(loop, poll_, epfd_) != 0) {
      delete poll_;
      poll_ = nullptr;
      Napi::Error::New(env, "uv_poll_init failed").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    uv_poll_start(poll_, UV_READABLE, OnReadable);
    polling_ = true;
    env_ = env;
    Ref();  // keep this object alive while the loop holds the poll handle
    return env.Undefined();
  }

  static void OnReadable(uv_poll_t* h, int status, int events) {
    IoEngine* self = static_cast<IoEngine*>(h->data);
    if (!self->polling_) return;
    Napi::HandleScope scope(self->env_);
    // Errors thrown by the callback surface as uncaught exceptions, as for any event callback.
    self->callback_.MakeCallback(self->Value(), {});
  }

  void StopPolling() {
    if (!polling_) return;
    polling_ = false;
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
    callback_.Reset();
    Unref();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    StopPolling();
    return info.Env().Undefined();
  }

  // stats() -> [{ name, rxFrames, txFrames, rxTruncated, txErrors, txEagain, kernelDrops }]
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array arr = Napi::Array::New(env);
    uint32_t k = 0;
    for (size_t i = 0; i < ports_.size(); i++) {
      Port& p = ports_[i];
      if (!p.open) continue;
      Napi::Object o = Napi::Object::New(env);
      o.Set("id", (double)i);
      o.Set("name", p.name);
      o.Set("rxFrames", p.rxFrames);
      o.Set("txFrames", p.txFrames);
      o.Set("rxTruncated", p.rxTruncated);
      o.Set("txErrors", p.txErrors);
      o.Set("txEagain", p.txEagain);
      if (p.kind == kPacket) {
        struct tpacket_stats st;
        socklen_t sl = sizeof st;
        // Reading PACKET_STATISTICS resets the kernel's counters: accumulate here.
        if (getsockopt(p.fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl) == 0) p.kernelDrops += st.tp_drops;
      }
      o.Set("kernelDrops", p.kernelDrops);
      arr.Set(k++, o);
    }
    return arr;
  }

  void Shutdown() {
    StopPolling();
    for (auto& p : ports_) {
      if (p.open) {
        close(p.fd);
        p.open = false;
      }
    }
    if (epfd_ >= 0) {
      close(epfd_);
      epfd_ = -1;
    }
  }

  Napi::Value CloseAll(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  Napi::Reference<Napi::ArrayBuffer> arenaRef_;
  Napi::Reference<Napi::Uint16Array> rxPortRef_, txPortRef_;
  Napi::Reference<Napi::Uint32Array> rxOffRef_, rxLenRef_, txOffRef_, txLenRef_;
  uint8_t* arena_ = nullptr;
  size_t arenaLen_ = 0;
  uint32_t slotSize_ = 0, slotCount_ = 0;
  size_t descLen_ = 0;
  uint16_t *rxPort_ = nullptr, *txPort_ = nullptr;
  uint32_t *rxOff_ = nullptr, *rxLen_ = nullptr, *txOff_ = nullptr, *txLen_ = nullptr;
  int epfd_ = -1;
  uint32_t rr_ = 0;
  std::vector<Port> ports_;
  std::vector<struct mmsghdr> msgs_;
  std::vector<struct iovec> iovs_;
  std::vector<struct sockaddr_ll> addrs_;
  uv_poll_t* poll_ = nullptr;
  bool polling_ = false;
  Napi::FunctionReference callback_;
  Napi::Env env_ = Napi::Env(nullptr);
};

// setIpTtl(fd, ttl): IP_TTL on a connected TCP socket (the metadata service's
// token response hop limit); Node has no API for it. Returns 0 or -errno.
Napi::Value SetIpTtl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) return Napi::Number::New(env, -EINVAL);
  int fd = info[0].As<Napi::Number>().Int32Value();
  int ttl = info[1].As<Napi::Number>().Int32Value();
  if (fd < 0 || ttl < 1 || ttl > 255) return Napi::Number::New(env, -EINVAL);
  if (setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl) != 0) return Napi::Number::New(env, -errno);
  return Napi::Number::New(env, 0);
}

Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  exports.Set("IoEngine", IoEngine::Init(env));
  exports.Set("setIpTtl", Napi::Function::New(env, SetIpTtl));
  exports.Set("vnetHdrLen", Napi::Number::New(env, kVnetHdrLen));
  return exports;
}

}  // namespace

NODE_API_MODULE(vpcd_io, InitAll)
