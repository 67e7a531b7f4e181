/**
 * IKEv2 protocol numbers (RFC 7296 §3 and the IANA "IKEv2 Parameters"
 * registry). Plain `as const` objects of small ints (isolatedModules: no enums).
 */

/** RFC 7296 §3.1 Exchange Type. */
export const ExchangeType = {
  IKE_SA_INIT: 34,
  IKE_AUTH: 35,
  CREATE_CHILD_SA: 36,
  INFORMATIONAL: 37,
} as const;
export type ExchangeType = (typeof ExchangeType)[keyof typeof ExchangeType];

/** RFC 7296 §3.1 header flags. */
export const HeaderFlag = { INITIATOR: 0x08, VERSION: 0x10, RESPONSE: 0x20 } as const;

/** RFC 7296 §3.2 Next Payload values (+ RFC 7383 SKF). */
export const PayloadType = {
  NONE: 0,
  SA: 33,
  KE: 34,
  IDi: 35,
  IDr: 36,
  CERT: 37,
  CERTREQ: 38,
  AUTH: 39,
  NONCE: 40,
  NOTIFY: 41,
  DELETE: 42,
  VENDOR: 43,
  TSi: 44,
  TSr: 45,
  SK: 46,
  CP: 47,
  EAP: 48,
  SKF: 53,
} as const;
export type PayloadType = (typeof PayloadType)[keyof typeof PayloadType];

/** RFC 7296 §3.3.1 Protocol ID. */
export const ProtocolId = { NONE: 0, IKE: 1, AH: 2, ESP: 3 } as const;

/** RFC 7296 §3.3.2 Transform Type. */
export const TransformType = { ENCR: 1, PRF: 2, INTEG: 3, DH: 4, ESN: 5 } as const;

/** ENCR transform IDs used here. */
export const Encr = {
  AES_CBC: 12,
  AES_GCM_8: 18,
  AES_GCM_12: 19,
  AES_GCM_16: 20,
} as const;

/** PRF transform IDs. */
export const Prf = { HMAC_SHA1: 2, HMAC_SHA2_256: 5, HMAC_SHA2_384: 6, HMAC_SHA2_512: 7 } as const;

/** INTEG transform IDs. */
export const Integ = {
  NONE: 0,
  HMAC_SHA1_96: 2,
  HMAC_SHA2_256_128: 12,
  HMAC_SHA2_384_192: 13,
  HMAC_SHA2_512_256: 14,
} as const;

/** Diffie-Hellman groups (IANA "Transform Type 4"). */
export const DhGroup = {
  NONE: 0,
  MODP_1024: 2,
  MODP_2048: 14,
  MODP_3072: 15,
  MODP_4096: 16,
  ECP_256: 19,
  ECP_384: 20,
  ECP_521: 21,
  CURVE_25519: 31,
} as const;

/** ESN transform IDs. */
export const Esn = { NO: 0, YES: 1 } as const;

/** Transform attribute type (TV form): key length in bits. */
export const ATTR_KEY_LENGTH = 14;

/** RFC 7296 §3.5 ID Type. */
export const IdType = {
  IPV4_ADDR: 1,
  FQDN: 2,
  RFC822_ADDR: 3,
  IPV6_ADDR: 5,
  DER_ASN1_DN: 9,
  DER_ASN1_GN: 10,
  KEY_ID: 11,
} as const;

/** RFC 7296 §3.6 Certificate Encoding. */
export const CertEncoding = { X509_SIGNATURE: 4 } as const;

/** RFC 7296 §3.8 Auth Method (+ RFC 7427 digital signature). */
export const AuthMethod = {
  RSA_SIG: 1,
  PSK: 2,
  DSS_SIG: 3,
  ECDSA_SHA256_P256: 9,
  ECDSA_SHA384_P384: 10,
  ECDSA_SHA512_P521: 11,
  DIGITAL_SIGNATURE: 14,
} as const;

/** RFC 7427 §4 / IANA hash algorithm identifiers for SIGNATURE_HASH_ALGORITHMS. */
export const HashAlg = { SHA1: 1, SHA2_256: 2, SHA2_384: 3, SHA2_512: 4, IDENTITY: 5 } as const;

/** RFC 7296 §3.13.1 Traffic selector types. */
export const TsType = { IPV4_ADDR_RANGE: 7, IPV6_ADDR_RANGE: 8 } as const;

/** Notify message types (RFC 7296 §3.10.1 and later RFCs). Errors are < 16384. */
export const NotifyType = {
  UNSUPPORTED_CRITICAL_PAYLOAD: 1,
  INVALID_IKE_SPI: 4,
  INVALID_MAJOR_VERSION: 5,
  INVALID_SYNTAX: 7,
  INVALID_MESSAGE_ID: 9,
  INVALID_SPI: 11,
  NO_PROPOSAL_CHOSEN: 14,
  INVALID_KE_PAYLOAD: 17,
  AUTHENTICATION_FAILED: 24,
  SINGLE_PAIR_REQUIRED: 34,
  NO_ADDITIONAL_SAS: 35,
  INTERNAL_ADDRESS_FAILURE: 36,
  FAILED_CP_REQUIRED: 37,
  TS_UNACCEPTABLE: 38,
  INVALID_SELECTORS: 39,
  TEMPORARY_FAILURE: 43,
  CHILD_SA_NOT_FOUND: 44,
  INITIAL_CONTACT: 16384,
  SET_WINDOW_SIZE: 16385,
  ADDITIONAL_TS_POSSIBLE: 16386,
  IPCOMP_SUPPORTED: 16387,
  NAT_DETECTION_SOURCE_IP: 16388,
  NAT_DETECTION_DESTINATION_IP: 16389,
  COOKIE: 16390,
  USE_TRANSPORT_MODE: 16391,
  HTTP_CERT_LOOKUP_SUPPORTED: 16392,
  REKEY_SA: 16393,
  ESP_TFC_PADDING_NOT_SUPPORTED: 16394,
  NON_FIRST_FRAGMENTS_ALSO: 16395,
  MOBIKE_SUPPORTED: 16396,
  MULTIPLE_AUTH_SUPPORTED: 16404,
  REDIRECT_SUPPORTED: 16406,
  IKEV2_MESSAGE_ID_SYNC_SUPPORTED: 16420,
  CHILDLESS_IKEV2_SUPPORTED: 16418,
  FRAGMENTATION_SUPPORTED: 16430,
  SIGNATURE_HASH_ALGORITHMS: 16431,
} as const;

/** Default UDP ports (RFC 7296 §2.23, RFC 3948). */
export const IKE_PORT = 500;
export const NATT_PORT = 4500;
/** RFC 3948 §2.2: IKE on the NAT-T port is preceded by four zero octets. */
export const NON_ESP_MARKER_LEN = 4;

/** Fixed header sizes. */
export const IKE_HEADER_LEN = 28;
export const GENERIC_PAYLOAD_HEADER_LEN = 4;

/** Human-readable names for logs. */
export function exchangeName(t: number): string {
  switch (t) {
    case ExchangeType.IKE_SA_INIT: return 'IKE_SA_INIT';
    case ExchangeType.IKE_AUTH: return 'IKE_AUTH';
    case ExchangeType.CREATE_CHILD_SA: return 'CREATE_CHILD_SA';
    case ExchangeType.INFORMATIONAL: return 'INFORMATIONAL';
    default: return `EXCHANGE_${t}`;
  }
}

const NOTIFY_NAMES = new Map<number, string>(Object.entries(NotifyType).map(([k, v]) => [v, k]));
export function notifyName(t: number): string {
  return NOTIFY_NAMES.get(t) ?? `NOTIFY_${t}`;
}
