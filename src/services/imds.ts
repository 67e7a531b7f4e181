/**
 * The instance metadata service's HTTP semantics (IMDSv1 and IMDSv2), as a
 * pure function of one request: method, path, headers, the calling instance
 * and the clock. services/server.ts feeds it from node:http and applies the
 * hop limit to the token response's socket.
 *
 *   PUT /latest/api/token   X-aws-ec2-metadata-token-ttl-seconds: 1..21600
 *                           -> 200 token; bad or missing TTL -> 400;
 *                           X-Forwarded-For present -> 403 (AWS refuses
 *                           token requests that went through a proxy)
 *   GET|HEAD other paths    X-aws-ec2-metadata-token: a valid token of this
 *                           instance or 401; no token -> 401 when httpTokens
 *                           is required, served otherwise (IMDSv1)
 *   other methods           405; unknown path 404
 *   httpEndpoint disabled   403 for everything
 *
 * Tokens are stateless: base64url(expiry seconds, instance address, HMAC)
 * under a key drawn at process start, so nothing grows with the number of
 * tokens handed out; a restart of the service server invalidates them, as
 * AWS's do at a stop/start.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { INSTANCE_TYPE, type ServiceInstance, type ServiceSnapshot } from './snapshot.js';

export const TOKEN_TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';
export const TOKEN_HEADER = 'x-aws-ec2-metadata-token';
export const MAX_TOKEN_TTL = 21_600;

export interface ImdsRequest {
  readonly method: string;
  /** The request target (path and query). */
  readonly url: string;
  /** Lower-case header names (node:http's req.headers). */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export interface ImdsResponse {
  readonly status: number;
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Set on a token response: the IP TTL its packets must carry (httpPutResponseHopLimit). */
  readonly hopLimit?: number;
  /** What the request was, for counters: token, metadata, refused. */
  readonly kind: 'token' | 'metadata' | 'refused';
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed' };

function error(status: number): ImdsResponse {
  return { status, body: `${status} - ${STATUS_TEXT[status] ?? ''}`.trim(), headers: { 'content-type': 'text/plain' }, kind: 'refused' };
}

/** A metadata tree: strings are leaves, objects directories; undefined entries are left out. */
interface Dir { readonly [k: string]: string | Dir | undefined }

export class TokenIssuer {
  private readonly key: Buffer;

  constructor(key: Buffer = randomBytes(32)) {
    this.key = key;
  }

  issue(instanceIp: string, ttlSeconds: number, nowMs: number): string {
    const exp = Math.floor(nowMs / 1000) + ttlSeconds;
    const body = Buffer.from(`${exp}:${instanceIp}`);
    const mac = createHmac('sha256', this.key).update(body).digest();
    return `${body.toString('base64url')}.${mac.toString('base64url')}`;
  }

  /** Seconds left on a token of `instanceIp`, or -1 when it is not one (forged, expired, another instance's). */
  check(token: string, instanceIp: string, nowMs: number): number {
    if (token.length > 200) return -1;
    const dot = token.indexOf('.');
    if (dot <= 0) return -1;
    const body = Buffer.from(token.slice(0, dot), 'base64url');
    const mac = Buffer.from(token.slice(dot + 1), 'base64url');
    const want = createHmac('sha256', this.key).update(body).digest();
    if (mac.length !== want.length || !timingSafeEqual(mac, want)) return -1;
    const text = body.toString();
    const colon = text.indexOf(':');
    const exp = Number(text.slice(0, colon));
    if (text.slice(colon + 1) !== instanceIp) return -1;
    const left = exp - Math.floor(nowMs / 1000);
    return left > 0 ? left : -1;
  }
}

function header(req: ImdsRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The metadata tree of one instance (what GET /latest/meta-data/… reads). */
export function metadataTree(snap: ServiceSnapshot, inst: ServiceInstance): Dir {
  const pub = inst.publicIp;
  const macDir: Dir = {
    'device-number': '0',
    'interface-id': inst.eniId,
    'local-hostname': inst.localHostname,
    'local-ipv4s': inst.ip,
    mac: inst.mac,
    'public-hostname': inst.publicHostname,
    'public-ipv4s': pub,
    'security-group-ids': inst.securityGroupIds.join('\n'),
    'security-groups': inst.securityGroups.join('\n'),
    'subnet-id': inst.subnetId,
    'subnet-ipv4-cidr-block': inst.subnetCidr,
    'vpc-id': snap.vpcId,
    'vpc-ipv4-cidr-block': snap.vpcCidr,
    'vpc-ipv4-cidr-blocks': snap.vpcCidr,
  };
  return {
    'ami-id': inst.amiId,
    hostname: inst.localHostname,
    'instance-id': inst.instanceId,
    'instance-type': INSTANCE_TYPE,
    'local-hostname': inst.localHostname,
    'local-ipv4': inst.ip,
    mac: inst.mac,
    network: { interfaces: { macs: { [inst.mac]: macDir } } },
    placement: { 'availability-zone': snap.availabilityZone, region: snap.region },
    'public-hostname': inst.publicHostname,
    'public-ipv4': pub,
    'security-groups': inst.securityGroups.join('\n'),
  };
}

/** dynamic/instance-identity/document: the JSON AWS signs (unsigned here). */
export function identityDocument(snap: ServiceSnapshot, inst: ServiceInstance, pendingTime: string): string {
  return JSON.stringify({
    accountId: snap.accountId,
    architecture: process.arch === 'arm64' ? 'arm64' : 'x86_64',
    availabilityZone: snap.availabilityZone,
    billingProducts: null,
    devpayProductCodes: null,
    marketplaceProductCodes: null,
    imageId: inst.amiId,
    instanceId: inst.instanceId,
    instanceType: INSTANCE_TYPE,
    kernelId: null,
    pendingTime,
    privateIp: inst.ip,
    ramdiskId: null,
    region: snap.region,
    version: '2017-09-30',
  }, null, 2);
}

function listing(d: Dir): string {
  return Object.keys(d)
    .filter((k) => d[k] !== undefined)
    .map((k) => (typeof d[k] === 'string' ? k : `${k}/`))
    .join('\n');
}

/** Walks `parts` in `root`: the leaf text, a directory listing, or undefined (404). */
function walk(root: Dir, parts: readonly string[]): string | undefined {
  let node: string | Dir | undefined = root;
  for (const p of parts) {
    if (typeof node !== 'object' || !Object.hasOwn(node, p)) return undefined;
    node = node[p];
  }
  if (node === undefined) return undefined;
  return typeof node === 'string' ? node : listing(node);
}

export interface ImdsContext {
  readonly snap: ServiceSnapshot;
  /** The caller, by its source address; undefined when no ENI of this VPC owns it. */
  readonly inst: ServiceInstance | undefined;
  readonly tokens: TokenIssuer;
  readonly nowMs: number;
  /** The service server's start (the identity document's pendingTime). */
  readonly startedIso: string;
}

export function handleImds(req: ImdsRequest, ctx: ImdsContext): ImdsResponse {
  const inst = ctx.inst;
  if (inst === undefined || inst.metadata.httpEndpoint === 'disabled') return error(403);
  const q = req.url.indexOf('?');
  const path = (q >= 0 ? req.url.slice(0, q) : req.url);
  if (path === '/latest/api/token') {
    if (req.method !== 'PUT') return error(405);
    if (header(req, 'x-forwarded-for') !== undefined) return error(403);
    const raw = header(req, TOKEN_TTL_HEADER);
    if (raw === undefined || !/^[0-9]{1,5}$/.test(raw.trim())) return error(400);
    const ttl = Number(raw.trim());
    if (ttl < 1 || ttl > MAX_TOKEN_TTL) return error(400);
    return {
      status: 200, body: ctx.tokens.issue(inst.ip, ttl, ctx.nowMs), kind: 'token', hopLimit: inst.metadata.httpPutResponseHopLimit,
      headers: { 'content-type': 'text/plain', [TOKEN_TTL_HEADER]: String(ttl) },
    };
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') return error(405);
  const token = header(req, TOKEN_HEADER);
  let left = -1;
  if (token !== undefined) {
    left = ctx.tokens.check(token, inst.ip, ctx.nowMs);
    if (left < 0) return error(401);
  } else if (inst.metadata.httpTokens === 'required') {
    return error(401);
  }
  const body = resolvePath(path, ctx, inst);
  if (body === undefined) return error(404);
  const headers: Record<string, string> = { 'content-type': body.startsWith('{') ? 'application/json' : 'text/plain' };
  if (left >= 0) headers[TOKEN_TTL_HEADER] = String(left);
  return { status: 200, body, headers, kind: 'metadata' };
}

function resolvePath(path: string, ctx: ImdsContext, inst: ServiceInstance): string | undefined {
  const parts = path.split('/').filter((p) => p !== '');
  if (parts.length === 0) return 'latest';
  if (parts[0] !== 'latest') return undefined;
  if (parts.length === 1) return ['dynamic', 'meta-data', ...(inst.userData !== undefined ? ['user-data'] : [])].join('\n');
  const rest = parts.slice(2);
  switch (parts[1]) {
    case 'meta-data':
      return walk(metadataTree(ctx.snap, inst), rest);
    case 'user-data':
      return rest.length === 0 ? inst.userData : undefined;
    case 'dynamic':
      return walk({ 'instance-identity': { document: identityDocument(ctx.snap, inst, ctx.startedIso) } }, rest);
    default:
      return undefined;
  }
}
