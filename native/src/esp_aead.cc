// esp_aead.cc - batched ESP AEAD for vpcd's data plane (N-API, node-addon-api).
//
// The cipher half of ESP (RFC 4303) for the transforms src/ipsec/esp-alg.ts
// lists: AES-GCM with a 16-byte ICV (RFC 4106) and AES-CBC + HMAC-SHA-1/2
// (RFC 3602, RFC 2404, RFC 4868). Everything else (SPI lookup, sequence
// numbers, replay window, padding, trailer checks) stays in TypeScript
// (src/ipsec/esp.ts); this file only seals and opens packets that JS laid
// out, in place in the caller's buffer.
//
// Why native: node:crypto builds a Cipher object and output Buffers per
// packet and reports a GCM tag mismatch by throwing. Here each SA slot and
// direction keeps one EVP_CIPHER_CTX (and one HMAC_CTX) keyed once at
// install; per packet only the IV changes (EVP_CipherInit_ex with a NULL
// cipher and key keeps the key schedule), nothing is allocated, and a batch
// of packets is one JS-to-native crossing.
//
// OpenSSL: the addon uses the libcrypto that Node itself is linked with
// (node exports the EVP_* and HMAC_* symbols and node-gyp puts Node's
// OpenSSL headers on the include path), so nothing else is linked.
//
// Packet layout (offsets relative to espOff):
//   0: SPI(4) Seq(4) | 8: IV(ivLen) | 8+ivLen: payload (ptLen/ctLen) | ICV(icvLen)
// GCM: nonce = salt(4) | IV(8), AAD = bytes [0, 8) (no ESN), tag 16.
// CBC: IV(16), ICV = first icvLen bytes of HMAC(key, bytes [0, 8+16+ctLen)).
//
// Every offset and length coming from JS is checked against the buffer; a
// bad descriptor yields kInvalid for that packet, never a crash.

#include <napi.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/opensslv.h>

#include <stdint.h>
#include <string.h>

#include <vector>

namespace {

constexpr int kOk = 1;
constexpr int kAuthFail = 0;
constexpr int kInvalid = -1;

constexpr int kGcm = 0;
constexpr int kCbc = 1;

struct Dir {
  EVP_CIPHER_CTX* cipher = nullptr;
  HMAC_CTX* hmac = nullptr;
  int kind = -1;  // -1: no key
  int ivLen = 0;
  int icvLen = 0;
  uint8_t salt[4] = {0, 0, 0, 0};

  void Free() {
    if (cipher != nullptr) EVP_CIPHER_CTX_free(cipher);  // cleanses the key schedule
    if (hmac != nullptr) HMAC_CTX_free(hmac);
    cipher = nullptr;
    hmac = nullptr;
    kind = -1;
    ivLen = 0;
    icvLen = 0;
    OPENSSL_cleanse(salt, sizeof salt);
  }
};

struct Slot {
  Dir dir[2];  // 0 = outbound (seal), 1 = inbound (open)
};

const EVP_CIPHER* CipherFor(int kind, size_t keyLen) {
  if (kind == kGcm) {
    if (keyLen == 16) return EVP_aes_128_gcm();
    if (keyLen == 24) return EVP_aes_192_gcm();
    if (keyLen == 32) return EVP_aes_256_gcm();
  } else if (kind == kCbc) {
    if (keyLen == 16) return EVP_aes_128_cbc();
    if (keyLen == 24) return EVP_aes_192_cbc();
    if (keyLen == 32) return EVP_aes_256_cbc();
  }
  return nullptr;
}

const EVP_MD* HashFor(int hash) {
  switch (hash) {
    case 1: return EVP_sha1();
    case 2: return EVP_sha256();
    case 3: return EVP_sha384();
    case 4: return EVP_sha512();
    default: return nullptr;
  }
}

// Ranges [a, a+al) and [b, b+bl) share bytes.
inline bool Overlaps(const uint8_t* a, size_t al, const uint8_t* b, size_t bl) {
  return a < b + bl && b < a + al;
}

// Seals one packet: payload at p + 8 + ivLen (ptLen bytes) in place, ICV after it.
int Seal(Dir& d, uint8_t* p, size_t ptLen) {
  int outl = 0, finl = 0;
  uint8_t* pt = p + 8 + d.ivLen;
  if (d.kind == kGcm) {
    uint8_t nonce[12];
    memcpy(nonce, d.salt, 4);
    memcpy(nonce + 4, p + 8, 8);
    if (EVP_CipherInit_ex(d.cipher, nullptr, nullptr, nullptr, nonce, 1) != 1) return kInvalid;
    if (EVP_EncryptUpdate(d.cipher, nullptr, &outl, p, 8) != 1) return kInvalid;
    if (EVP_EncryptUpdate(d.cipher, pt, &outl, pt, (int)ptLen) != 1) return kInvalid;
    if (EVP_EncryptFinal_ex(d.cipher, pt + outl, &finl) != 1) return kInvalid;
    if (EVP_CIPHER_CTX_ctrl(d.cipher, EVP_CTRL_GCM_GET_TAG, 16, pt + ptLen) != 1) return kInvalid;
    return kOk;
  }
  if (EVP_CipherInit_ex(d.cipher, nullptr, nullptr, nullptr, p + 8, 1) != 1) return kInvalid;
  if (EVP_EncryptUpdate(d.cipher, pt, &outl, pt, (int)ptLen) != 1) return kInvalid;
  if (EVP_EncryptFinal_ex(d.cipher, pt + outl, &finl) != 1) return kInvalid;
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned int mdLen = 0;
  if (HMAC_Init_ex(d.hmac, nullptr, 0, nullptr, nullptr) != 1) return kInvalid;
  if (HMAC_Update(d.hmac, p, 8 + d.ivLen + ptLen) != 1) return kInvalid;
  if (HMAC_Final(d.hmac, md, &mdLen) != 1 || (int)mdLen < d.icvLen) return kInvalid;
  memcpy(pt + ptLen, md, d.icvLen);
  return kOk;
}

// Opens one packet p[0, espLen): verifies the ICV and writes ctLen bytes of
// plaintext at dst (which may overlap the packet anywhere).
int Open(Dir& d, uint8_t* p, size_t espLen, uint8_t* dst) {
  const size_t ctLen = espLen - 8 - d.ivLen - d.icvLen;
  uint8_t* ct = p + 8 + d.ivLen;
  const uint8_t* icv = ct + ctLen;
  // OpenSSL refuses partially overlapping in/out: decrypt in place, then move.
  const bool moveAfter = dst != ct && Overlaps(dst, ctLen, ct, ctLen + d.icvLen);
  uint8_t* out = moveAfter ? ct : dst;
  int outl = 0, finl = 0;
  if (d.kind == kGcm) {
    uint8_t nonce[12];
    uint8_t tag[16];
    memcpy(nonce, d.salt, 4);
    memcpy(nonce + 4, p + 8, 8);
    memcpy(tag, icv, 16);
    if (EVP_CipherInit_ex(d.cipher, nullptr, nullptr, nullptr, nonce, 0) != 1) return kInvalid;
    if (EVP_CIPHER_CTX_ctrl(d.cipher, EVP_CTRL_GCM_SET_TAG, 16, tag) != 1) return kInvalid;
    if (EVP_DecryptUpdate(d.cipher, nullptr, &outl, p, 8) != 1) return kInvalid;
    if (ctLen > 0 && EVP_DecryptUpdate(d.cipher, out, &outl, ct, (int)ctLen) != 1) return kInvalid;
    if (EVP_DecryptFinal_ex(d.cipher, out + outl, &finl) <= 0) return kAuthFail;
  } else {
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int mdLen = 0;
    if (HMAC_Init_ex(d.hmac, nullptr, 0, nullptr, nullptr) != 1) return kInvalid;
    if (HMAC_Update(d.hmac, p, 8 + d.ivLen + ctLen) != 1) return kInvalid;
    if (HMAC_Final(d.hmac, md, &mdLen) != 1 || (int)mdLen < d.icvLen) return kInvalid;
    if (CRYPTO_memcmp(md, icv, d.icvLen) != 0) return kAuthFail;
    uint8_t iv[16];
    memcpy(iv, p + 8, 16);
    if (EVP_CipherInit_ex(d.cipher, nullptr, nullptr, nullptr, iv, 0) != 1) return kInvalid;
    if (EVP_DecryptUpdate(d.cipher, out, &outl, ct, (int)ctLen) != 1) return kInvalid;
    if (EVP_DecryptFinal_ex(d.cipher, out + outl, &finl) != 1) return kInvalid;
  }
  if (moveAfter) memmove(dst, ct, ctLen);
  return kOk;
}

bool GetBytes(const Napi::Value& v, uint8_t** data, size_t* len) {
  if (!v.IsTypedArray()) return false;
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_uint8_array) return false;
  Napi::Uint8Array u = v.As<Napi::Uint8Array>();
  *data = u.Data();
  *len = u.ByteLength();
  return true;
}

template <typename T, napi_typedarray_type kType>
bool GetArray(const Napi::Value& v, T** data, size_t* count) {
  if (!v.IsTypedArray()) return false;
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.TypedArrayType() != kType) return false;
  Napi::TypedArrayOf<T> a = v.As<Napi::TypedArrayOf<T>>();
  *data = a.Data();
  *count = a.ElementLength();
  return true;
}

class EspAead : public Napi::ObjectWrap<EspAead> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "EspAead", {
      InstanceMethod<&EspAead::SetKey>("setKey"),
      InstanceMethod<&EspAead::Clear>("clear"),
      InstanceMethod<&EspAead::Seal1>("seal1"),
      InstanceMethod<&EspAead::Open1>("open1"),
      InstanceMethod<&EspAead::SealBatch>("sealBatch"),
      InstanceMethod<&EspAead::OpenBatch>("openBatch"),
    });
  }

  explicit EspAead(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EspAead>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) {
      Napi::TypeError::New(env, "EspAead(maxSlots)").ThrowAsJavaScriptException();
      return;
    }
    int64_t n = info[0].As<Napi::Number>().Int64Value();
    if (n < 1 || n > 65536) {
      Napi::RangeError::New(env, "maxSlots must be in [1, 65536]").ThrowAsJavaScriptException();
      return;
    }
    slots_.resize((size_t)n);
  }

  ~EspAead() override {
    for (Slot& s : slots_) {
      s.dir[0].Free();
      s.dir[1].Free();
    }
  }

 private:
  std::vector<Slot> slots_;

  Dir* DirAt(int64_t slot, int dir) {
    if (slot < 0 || (size_t)slot >= slots_.size()) return nullptr;
    Dir* d = &slots_[(size_t)slot].dir[dir];
    return d->kind < 0 ? nullptr : d;
  }

  // setKey(slot, dir, kind, hash, icvLen, encKey, salt, integKey) -> boolean
  Napi::Value SetKey(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 8) {
      Napi::TypeError::New(env, "setKey(slot, dir, kind, hash, icvLen, encKey, salt, integKey)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int64_t slot = info[0].As<Napi::Number>().Int64Value();
    int dir = info[1].As<Napi::Number>().Int32Value();
    int kind = info[2].As<Napi::Number>().Int32Value();
    int hash = info[3].As<Napi::Number>().Int32Value();
    int icvLen = info[4].As<Napi::Number>().Int32Value();
    uint8_t *key = nullptr, *salt = nullptr, *integ = nullptr;
    size_t keyLen = 0, saltLen = 0, integLen = 0;
    if (slot < 0 || (size_t)slot >= slots_.size() || (dir != 0 && dir != 1) ||
        !GetBytes(info[5], &key, &keyLen) || !GetBytes(info[6], &salt, &saltLen) || !GetBytes(info[7], &integ, &integLen)) {
      return Napi::Boolean::New(env, false);
    }
    Dir& d = slots_[(size_t)slot].dir[dir];
    d.Free();
    const EVP_CIPHER* cipher = CipherFor(kind, keyLen);
    if (cipher == nullptr) return Napi::Boolean::New(env, false);
    if (kind == kGcm && (saltLen != 4 || icvLen != 16)) return Napi::Boolean::New(env, false);
    const EVP_MD* md = nullptr;
    if (kind == kCbc) {
      md = HashFor(hash);
      if (md == nullptr || icvLen <= 0 || icvLen > EVP_MD_get_size(md) || integLen == 0) return Napi::Boolean::New(env, false);
    }
    d.cipher = EVP_CIPHER_CTX_new();
    if (d.cipher == nullptr ||
        EVP_CipherInit_ex(d.cipher, cipher, nullptr, key, nullptr, dir == 0 ? 1 : 0) != 1) {
      d.Free();
      return Napi::Boolean::New(env, false);
    }
    if (kind == kCbc) {
      EVP_CIPHER_CTX_set_padding(d.cipher, 0);
      d.hmac = HMAC_CTX_new();
      if (d.hmac == nullptr || HMAC_Init_ex(d.hmac, integ, (int)integLen, md, nullptr) != 1) {
        d.Free();
        return Napi::Boolean::New(env, false);
      }
      d.ivLen = 16;
    } else {
      memcpy(d.salt, salt, 4);
      d.ivLen = 8;
    }
    d.icvLen = icvLen;
    d.kind = kind;
    return Napi::Boolean::New(env, true);
  }

  Napi::Value Clear(const Napi::CallbackInfo& info) {
    int64_t slot = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int64Value() : -1;
    if (slot >= 0 && (size_t)slot < slots_.size()) {
      slots_[(size_t)slot].dir[0].Free();
      slots_[(size_t)slot].dir[1].Free();
    }
    return info.Env().Undefined();
  }

  // Checks one seal descriptor against the buffer and runs it.
  int SealOne(uint8_t* buf, size_t bufLen, int64_t slot, uint64_t espOff, uint64_t ptLen) {
    Dir* d = DirAt(slot, 0);
    if (d == nullptr) return kInvalid;
    const uint64_t total = 8 + (uint64_t)d->ivLen + ptLen + (uint64_t)d->icvLen;
    if (ptLen == 0 || ptLen > 0x7fffffff || espOff > bufLen || total > bufLen - espOff) return kInvalid;
    if (d->kind == kCbc && (ptLen & 15) != 0) return kInvalid;
    return Seal(*d, buf + espOff, (size_t)ptLen);
  }

  int OpenOne(uint8_t* buf, size_t bufLen, int64_t slot, uint64_t espOff, uint64_t espLen, uint8_t* out, size_t outLen, uint64_t outOff) {
    Dir* d = DirAt(slot, 1);
    if (d == nullptr) return kInvalid;
    const uint64_t fixed = 8 + (uint64_t)d->ivLen + (uint64_t)d->icvLen;
    if (espOff > bufLen || espLen > bufLen - espOff || espLen < fixed || espLen - fixed > 0x7fffffff) return kInvalid;
    const uint64_t ctLen = espLen - fixed;
    if (d->kind == kCbc && (ctLen == 0 || (ctLen & 15) != 0)) return kInvalid;
    if (outOff > outLen || ctLen > outLen - outOff) return kInvalid;
    return Open(*d, buf + espOff, (size_t)espLen, out + outOff);
  }

  // seal1(buf, slot, espOff, ptLen) -> result
  Napi::Value Seal1(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint8_t* buf = nullptr;
    size_t bufLen = 0;
    if (info.Length() < 4 || !GetBytes(info[0], &buf, &bufLen)) return Napi::Number::New(env, kInvalid);
    int64_t slot = info[1].As<Napi::Number>().Int64Value();
    int64_t espOff = info[2].As<Napi::Number>().Int64Value();
    int64_t ptLen = info[3].As<Napi::Number>().Int64Value();
    if (espOff < 0 || ptLen < 0) return Napi::Number::New(env, kInvalid);
    return Napi::Number::New(env, SealOne(buf, bufLen, slot, (uint64_t)espOff, (uint64_t)ptLen));
  }

  // open1(buf, slot, espOff, espLen, out, outOff) -> result
  Napi::Value Open1(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint8_t *buf = nullptr, *out = nullptr;
    size_t bufLen = 0, outLen = 0;
    if (info.Length() < 6 || !GetBytes(info[0], &buf, &bufLen) || !GetBytes(info[4], &out, &outLen)) {
      return Napi::Number::New(env, kInvalid);
    }
    int64_t slot = info[1].As<Napi::Number>().Int64Value();
    int64_t espOff = info[2].As<Napi::Number>().Int64Value();
    int64_t espLen = info[3].As<Napi::Number>().Int64Value();
    int64_t outOff = info[5].As<Napi::Number>().Int64Value();
    if (espOff < 0 || espLen < 0 || outOff < 0) return Napi::Number::New(env, kInvalid);
    return Napi::Number::New(env, OpenOne(buf, bufLen, slot, (uint64_t)espOff, (uint64_t)espLen, out, outLen, (uint64_t)outOff));
  }

  // sealBatch(buf, n, slot: Int32Array, espOff: Uint32Array, ptLen: Uint32Array, result: Int32Array) -> failures
  Napi::Value SealBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint8_t* buf = nullptr;
    size_t bufLen = 0, nSlot = 0, nOff = 0, nLen = 0, nRes = 0;
    int32_t* slot = nullptr;
    uint32_t* espOff = nullptr;
    uint32_t* ptLen = nullptr;
    int32_t* result = nullptr;
    if (info.Length() < 6 || !GetBytes(info[0], &buf, &bufLen) || !info[1].IsNumber() ||
        !GetArray<int32_t, napi_int32_array>(info[2], &slot, &nSlot) ||
        !GetArray<uint32_t, napi_uint32_array>(info[3], &espOff, &nOff) ||
        !GetArray<uint32_t, napi_uint32_array>(info[4], &ptLen, &nLen) ||
        !GetArray<int32_t, napi_int32_array>(info[5], &result, &nRes)) {
      Napi::TypeError::New(env, "sealBatch(buf, n, slot, espOff, ptLen, result)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int64_t n = info[1].As<Napi::Number>().Int64Value();
    if (n < 0) n = 0;
    size_t cap = nSlot;
    if (nOff < cap) cap = nOff;
    if (nLen < cap) cap = nLen;
    if (nRes < cap) cap = nRes;
    if ((size_t)n > cap) n = (int64_t)cap;
    int failures = 0;
    for (int64_t i = 0; i < n; i++) {
      if (slot[i] < 0) continue;
      int r = SealOne(buf, bufLen, slot[i], espOff[i], ptLen[i]);
      result[i] = r;
      if (r != kOk) failures++;
    }
    return Napi::Number::New(env, failures);
  }

  // openBatch(buf, n, slot, espOff, espLen, outOff, result) -> failures
  Napi::Value OpenBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint8_t* buf = nullptr;
    size_t bufLen = 0, nSlot = 0, nOff = 0, nLen = 0, nOut = 0, nRes = 0;
    int32_t* slot = nullptr;
    uint32_t* espOff = nullptr;
    uint32_t* espLen = nullptr;
    uint32_t* outOff = nullptr;
    int32_t* result = nullptr;
    if (info.Length() < 7 || !GetBytes(info[0], &buf, &bufLen) || !info[1].IsNumber() ||
        !GetArray<int32_t, napi_int32_array>(info[2], &slot, &nSlot) ||
        !GetArray<uint32_t, napi_uint32_array>(info[3], &espOff, &nOff) ||
        !GetArray<uint32_t, napi_uint32_array>(info[4], &espLen, &nLen) ||
        !GetArray<uint32_t, napi_uint32_array>(info[5], &outOff, &nOut) ||
        !GetArray<int32_t, napi_int32_array>(info[6], &result, &nRes)) {
      Napi::TypeError::New(env, "openBatch(buf, n, slot, espOff, espLen, outOff, result)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int64_t n = info[1].As<Napi::Number>().Int64Value();
    if (n < 0) n = 0;
    size_t cap = nSlot;
    if (nOff < cap) cap = nOff;
    if (nLen < cap) cap = nLen;
    if (nOut < cap) cap = nOut;
    if (nRes < cap) cap = nRes;
    if ((size_t)n > cap) n = (int64_t)cap;
    int failures = 0;
    for (int64_t i = 0; i < n; i++) {
      if (slot[i] < 0) continue;
      int r = OpenOne(buf, bufLen, slot[i], espOff[i], espLen[i], buf, bufLen, outOff[i]);
      result[i] = r;
      if (r != kOk) failures++;
    }
    return Napi::Number::New(env, failures);
  }
};

}  // namespace

// Exported so the functions could also be registered from another addon's
// init (vpcd_io.cc's InitAll) instead of the separate vpcd_esp module.
void RegisterEsp(Napi::Env env, Napi::Object exports) {
  exports.Set("EspAead", EspAead::Define(env));
  exports.Set("opensslVersion", Napi::String::New(env, OpenSSL_version(OPENSSL_VERSION)));
}

#ifndef VPCD_ESP_NO_MODULE
static Napi::Object InitEsp(Napi::Env env, Napi::Object exports) {
  RegisterEsp(env, exports);
  return exports;
}

NODE_API_MODULE(vpcd_esp, InitEsp)
#endif
