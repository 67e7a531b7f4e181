/**
 * The imported configuration as YAML text: block style for the structure,
 * one flow mapping per subnet, instance, gateway, rule and route (one line
 * each, as docs/config.md writes them), and a comment with the AWS id above
 * every object so each name traces back to AWS.
 */
import { Document, isMap, isPair, isScalar, isSeq, type Node, type Pair, type YAMLMap } from 'yaml';
import type { Comments, Doc } from './model.js';

/** Sections whose objects each fit on one line. */
const ONE_LINE_OBJECTS = new Set(['subnets', 'instances', 'natGateways', 'internetGateway', 'vpnGateway']);
/** Lists whose items each fit on one line (under any object of these sections). */
const ONE_LINE_ITEMS = new Set(['inbound', 'outbound', 'ingress', 'egress', 'routes', 'tunnels']);

function setFlow(node: unknown, flow: boolean): void {
  if (isMap(node) || isSeq(node)) (node as { flow?: boolean }).flow = flow;
}

function pairs(node: unknown): Pair<unknown, unknown>[] {
  return isMap(node) ? (node as YAMLMap).items.filter((p): p is Pair<unknown, unknown> => isPair(p)) : [];
}

function keyOf(p: Pair<unknown, unknown>): string {
  return isScalar(p.key) ? String(p.key.value) : String(p.key);
}

function comment(p: Pair<unknown, unknown>, text: string | undefined): void {
  if (text !== undefined && isScalar(p.key)) (p.key as Node).commentBefore = ` ${text}`;
}

/** Flow style for the one-line lists anywhere below `node`. */
function flowItems(node: unknown): void {
  for (const p of pairs(node)) {
    const k = keyOf(p);
    if (ONE_LINE_ITEMS.has(k) && isSeq(p.value)) {
      for (const item of p.value.items) setFlow(item, true);
    } else if (k === 'remoteNetworks' || k === 'cidrs' || k === 'securityGroups' || k === 'proposals' || k === 'auth') {
      setFlow(p.value, true);
    } else {
      flowItems(p.value);
    }
  }
}

export function emitYaml(doc: Doc, comments: Comments, header: readonly string[]): string {
  const d = new Document(doc);
  for (const top of pairs(d.contents)) {
    const section = keyOf(top);
    comment(top, comments.get(section));
    if (ONE_LINE_OBJECTS.has(section) && !isMap(top.value)) continue;
    if (section === 'internetGateway' || section === 'vpnGateway' || section === 'vpc') {
      setFlow(top.value, section !== 'vpc');
      continue;
    }
    if (section === 'lab') {
      for (const p of pairs(top.value)) if (keyOf(p) === 'internetHosts') setFlow(p.value, true);
      continue;
    }
    for (const obj of pairs(top.value)) {
      comment(obj, comments.get(`${section}.${keyOf(obj)}`));
      if (ONE_LINE_OBJECTS.has(section)) setFlow(obj.value, true);
      else flowItems(obj.value);
    }
  }
  d.commentBefore = header.map((h) => ` ${h}`).join('\n');
  return d.toString({ lineWidth: 0 });
}
