/**
 * The live page (GET /live): one self-contained HTML document, inline CSS
 * and JavaScript, no build step, nothing fetched from elsewhere. It draws
 * the VPC from /live/topology.json (subnets with their instances and NAT
 * gateways, the internet gateway, the VPN gateway and its tunnels, the lab's
 * internet hosts), shows flows as they happen from /live/events (server-sent
 * events; green accepted, red refused, blue translated, grey ended), and
 * polls /live/stats.json for the top denied sources and the NACL and
 * security-group hit counters.
 */
export const LIVE_PAGE = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>vpcd live</title>
<style>
  body { font: 13px/1.4 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2430; }
  header { padding: 8px 16px; background: #232f3e; color: #fff; display: flex; gap: 16px; align-items: baseline; }
  header h1 { font-size: 16px; margin: 0; }
  #status { font-size: 12px; opacity: .8; }
  main { display: grid; grid-template-columns: minmax(600px, 3fr) minmax(320px, 2fr); gap: 12px; padding: 12px; }
  section { background: #fff; border: 1px solid #d5dbe3; border-radius: 6px; padding: 8px 12px; }
  h2 { font-size: 13px; margin: 4px 0 8px; text-transform: uppercase; letter-spacing: .04em; color: #545b64; }
  svg { width: 100%; height: auto; }
  .subnet rect { fill: #eef5ff; stroke: #7aa7e0; }
  .subnet.public rect { fill: #eefbef; stroke: #6bbf73; }
  .subnet text.title { font-weight: 600; font-size: 12px; }
  .node circle, .node rect { stroke: #333; stroke-width: 1; }
  .node.instance circle { fill: #ff9900; }
  .node.natgw rect { fill: #8c4fff; }
  .node.igw rect { fill: #3f8624; }
  .node.vgw rect { fill: #1166bb; }
  .node.host circle { fill: #bbb; }
  .node text { font-size: 11px; }
  .node.hit circle, .node.hit rect { stroke-width: 3; }
  .flow { stroke-width: 2.5; fill: none; opacity: .9; transition: opacity 2.5s; }
  .flow.ACCEPT { stroke: #1d8102; }
  .flow.REJECT { stroke: #d13212; stroke-dasharray: 5 3; }
  .flow.nat { stroke: #1166bb; }
  .flow.end { stroke: #888; }
  .flow.fade { opacity: 0; }
  table { border-collapse: collapse; width: 100%; font-size: 12px; }
  td, th { text-align: left; padding: 2px 6px; border-bottom: 1px solid #eee; white-space: nowrap; }
  tr.ACCEPT td.v { color: #1d8102; font-weight: 600; }
  tr.REJECT td.v { color: #d13212; font-weight: 600; }
  tr.lost td { color: #b36b00; font-style: italic; }
  .scroll { max-height: 360px; overflow: auto; }
  .side { display: flex; flex-direction: column; gap: 12px; }
  .wide { grid-column: 1 / -1; }
  .legend span { margin-right: 12px; }
  .legend i { display: inline-block; width: 18px; height: 3px; vertical-align: middle; margin-right: 4px; }
</style>
</head>
<body>
<header><h1>vpcd live</h1><span id="vpc"></span><span id="status">connecting…</span></header>
<main>
  <div class="side">
    <section>
      <h2>Topology</h2>
      <div class="legend"><span><i style="background:#1d8102"></i>accepted</span><span><i style="background:#d13212"></i>refused</span><span><i style="background:#1166bb"></i>translated</span><span><i style="background:#888"></i>ended</span></div>
      <svg id="topo" viewBox="0 0 900 500" role="img" aria-label="VPC topology"></svg>
    </section>
  </div>
  <div class="side">
    <section><h2>Top denied sources</h2><table><thead><tr><th>source</th><th>packets</th></tr></thead><tbody id="denied"></tbody></table></section>
    <section><h2>NACL rule hits</h2><table><thead><tr><th>NACL</th><th>direction</th><th>rule</th><th>action</th><th>hits</th></tr></thead><tbody id="nacl"></tbody></table></section>
    <section><h2>Security-group verdicts</h2><table><thead><tr><th>instance</th><th>egress allow/deny</th><th>ingress allow/deny</th></tr></thead><tbody id="sg"></tbody></table></section>
    <section><h2>Security-group rule hits</h2><table><thead><tr><th>group</th><th>direction</th><th>rule</th><th>hits</th></tr></thead><tbody id="sgrules"></tbody></table></section>
    <section><h2>Drops by reason</h2><table><tbody id="drops"></tbody></table></section>
  </div>
  <section class="wide">
    <h2>Flows</h2>
    <div class="scroll"><table><thead><tr><th>time</th><th>type</th><th>verdict</th><th>instance</th><th>proto</th><th>source</th><th>destination</th><th>stage</th><th>by</th><th>code / reason</th></tr></thead>
    <tbody id="events"></tbody></table></div>
  </section>
</main>
<script>
"use strict";
var SVGNS = "http://www.w3.org/2000/svg";
var pos = {};      // address or name -> {x, y, id}
var MAX_ROWS = 200;

function el(tag, attrs, parent) {
  var e = document.createElementNS(SVGNS, tag);
  for (var k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}
function txt(parent, x, y, s, cls) {
  var t = el("text", { x: x, y: y }, parent);
  if (cls) t.setAttribute("class", cls);
  t.textContent = s;
  return t;
}
function cell(tr, s, cls) {
  var td = document.createElement("td");
  td.textContent = s == null ? "" : String(s);
  if (cls) td.className = cls;
  tr.appendChild(td);
}
function byText(by) {
  if (!by) return "";
  if (by.nacl) return by.nacl + " rule " + by.rule;
  if (by.group) return by.group + " rule " + by.rule;
  if (by.implicit) return "implicit deny";
  return JSON.stringify(by);
}
function place(key, x, y, id) { if (key) pos[key] = { x: x, y: y, id: id }; }

function drawTopology(t) {
  document.getElementById("vpc").textContent = t.vpc.name + " " + t.vpc.cidr;
  var svg = document.getElementById("topo");
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  var subnets = t.subnets, n = Math.max(subnets.length, 1);
  var cols = Math.min(n, 3), rows = Math.ceil(n / cols);
  var W = 900, top = 90, sw = (W - 40) / cols - 16;
  var per = Math.max(1, Math.floor((sw - 20) / 130)), most = 1;
  subnets.forEach(function (s) {
    var k = t.instances.filter(function (x) { return x.subnet === s.name; }).length + t.natGateways.filter(function (x) { return x.subnet === s.name; }).length;
    most = Math.max(most, Math.ceil(k / per));
  });
  var sh = 56 + most * 34;
  el("rect", { x: 8, y: top - 26, width: W - 16, height: rows * (sh + 14) + 34, rx: 8, fill: "none", stroke: "#545b64", "stroke-dasharray": "6 4" }, svg);
  txt(svg, 16, top - 10, "VPC " + t.vpc.name + " (" + t.vpc.cidr + ")", "title");
  var outside = el("g", {}, svg);
  var ox = 60;
  if (t.internetGateway) {
    var g = el("g", { "class": "node igw", "data-name": t.internetGateway.name, id: "node-igw" }, outside);
    el("rect", { x: ox - 14, y: 14, width: 28, height: 20, rx: 3 }, g);
    txt(g, ox + 18, 28, "internet gateway " + t.internetGateway.name);
    place("igw", ox, 24, "node-igw");
    ox += 240;
  }
  var hosts = Object.keys(t.internetHosts || {});
  hosts.forEach(function (h) {
    var g = el("g", { "class": "node host", "data-name": h, id: "node-host-" + h }, outside);
    el("circle", { cx: ox, cy: 24, r: 9 }, g);
    txt(g, ox + 14, 28, h + " " + t.internetHosts[h]);
    place(t.internetHosts[h], ox, 24, "node-host-" + h);
    ox += 170;
  });
  if (t.vpnGateway) {
    var gv = el("g", { "class": "node vgw", "data-name": t.vpnGateway.name, id: "node-vgw" }, svg);
    el("rect", { x: W - 190, y: 14, width: 28, height: 20, rx: 3 }, gv);
    txt(gv, W - 158, 28, "VPN gateway " + t.vpnGateway.name);
    place("vgw", W - 176, 24, "node-vgw");
    t.vpnConnections.forEach(function (c, i) {
      var gt = el("g", { "class": "node tunnel", "data-name": c.name }, svg);
      txt(gt, W - 190, 48 + i * 12, "tunnel " + c.name + " → " + c.remoteNetworks.join(", ") + " (" + c.tunnels + ")");
    });
  }
  subnets.forEach(function (s, i) {
    var cx = 20 + (i % cols) * (sw + 16), cy = top + Math.floor(i / cols) * (sh + 14);
    var pub = s.defaultRoute === "igw" || (t.internetGateway && s.defaultRoute === t.internetGateway.name);
    var g = el("g", { "class": "subnet" + (pub ? " public" : ""), "data-name": s.name, id: "subnet-" + s.name }, svg);
    el("rect", { x: cx, y: cy, width: sw, height: sh, rx: 6 }, g);
    txt(g, cx + 8, cy + 16, s.name + " " + s.cidr, "title");
    txt(g, cx + 8, cy + 30, "NACL " + s.networkAcl + (s.defaultRoute ? " · 0.0.0.0/0 → " + s.defaultRoute : ""));
    var members = t.instances.filter(function (x) { return x.subnet === s.name; });
    var nats = t.natGateways.filter(function (x) { return x.subnet === s.name; });
    var k = 0;
    members.forEach(function (m) {
      var nx = cx + 20 + (k % per) * 130, ny = cy + 52 + Math.floor(k / per) * 34; k++;
      var id = "node-" + m.name;
      var gn = el("g", { "class": "node instance", "data-name": m.name, id: id }, g);
      el("circle", { cx: nx, cy: ny, r: 8 }, gn);
      txt(gn, nx + 12, ny + 4, m.name + " " + m.ip);
      place(m.ip, nx, ny, id); place(m.publicIp, nx, ny, id); place(m.name, nx, ny, id);
    });
    nats.forEach(function (m) {
      var nx = cx + 20 + (k % per) * 130, ny = cy + 52 + Math.floor(k / per) * 34; k++;
      var id = "node-" + m.name;
      var gn = el("g", { "class": "node natgw", "data-name": m.name, id: id }, g);
      el("rect", { x: nx - 9, y: ny - 8, width: 18, height: 16, rx: 3 }, gn);
      txt(gn, nx + 12, ny + 4, m.name + " (NAT) " + (m.publicIp || m.ip));
      place(m.ip, nx, ny, id); place(m.publicIp, nx, ny, id); place(m.name, nx, ny, id);
    });
  });
  svg.setAttribute("viewBox", "0 0 " + W + " " + (top + rows * (sh + 14) + 20));
  el("g", { id: "flows" }, svg);
}

function where(addr) {
  if (!addr) return null;
  if (pos[addr]) return pos[addr];
  return pos.igw || null;  // outside the VPC: drawn from the internet gateway
}

function drawFlow(e) {
  var a = where(e.src), b = where(e.type === "nat" ? (e.xdst || e.dst) : e.dst);
  if (!a || !b) return;
  var layer = document.getElementById("flows");
  if (!layer) return;
  var cls = "flow " + (e.type === "nat" ? "nat" : e.type === "end" ? "end" : e.verdict);
  var mx = (a.x + b.x) / 2, my = Math.min(a.y, b.y) - 30;
  var p = el("path", { d: "M" + a.x + "," + a.y + " Q" + mx + "," + my + " " + b.x + "," + b.y, "class": cls }, layer);
  [a.id, b.id].forEach(function (id) { var n = id && document.getElementById(id); if (n) n.classList.add("hit"); });
  setTimeout(function () { p.classList.add("fade"); }, 1500);
  setTimeout(function () {
    p.remove();
    [a.id, b.id].forEach(function (id) { var n = id && document.getElementById(id); if (n) n.classList.remove("hit"); });
  }, 4200);
}

function addRow(e) {
  var body = document.getElementById("events");
  var tr = document.createElement("tr");
  if (e.type === "lost") {
    tr.className = "lost";
    var td = document.createElement("td");
    td.colSpan = 10;
    td.textContent = e.lost + " events lost (" + e.where + ")";
    tr.appendChild(td);
  } else {
    tr.className = "ev " + e.verdict + " " + e.type;
    tr.dataset.src = e.src || "";
    tr.dataset.dst = e.dst || "";
    tr.dataset.verdict = e.verdict;
    var port = function (p) { return p == null ? "" : ":" + p; };
    cell(tr, (e.time || "").slice(11, 23));
    cell(tr, e.type);
    cell(tr, e.verdict, "v");
    cell(tr, e.instance);
    cell(tr, e.proto);
    cell(tr, (e.src || "") + port(e.sport) + (e.type === "nat" ? " → " + (e.xsrc || "") + port(e.xsport) : ""));
    cell(tr, (e.dst || "") + port(e.dport));
    cell(tr, e.stage);
    cell(tr, byText(e.by));
    cell(tr, [e.code, e.reason].filter(Boolean).join(" "));
  }
  body.insertBefore(tr, body.firstChild);
  while (body.childNodes.length > MAX_ROWS) body.removeChild(body.lastChild);
}

function fill(id, rows) {
  var body = document.getElementById(id);
  while (body.firstChild) body.removeChild(body.firstChild);
  rows.forEach(function (r) {
    var tr = document.createElement("tr");
    r.forEach(function (c) { cell(tr, c); });
    body.appendChild(tr);
  });
}

function pollStats() {
  fetch("/live/stats.json").then(function (r) { return r.json(); }).then(function (s) {
    fill("denied", s.topDenied.map(function (d) { return [d.source, d.packets]; }));
    fill("nacl", s.naclRuleHits.map(function (h) { return [h.nacl, h.direction, h.rule, h.action, h.hits]; }));
    fill("sg", s.sgVerdicts.map(function (v) { return [v.instance, v.egressAllow + " / " + v.egressDeny, v.ingressAllow + " / " + v.ingressDeny]; }));
    fill("sgrules", s.sgRuleHits.map(function (h) { return [h.group, h.direction, h.rule, h.hits]; }));
    fill("drops", Object.keys(s.drops).map(function (k) { return [k, s.drops[k]]; }));
  }).catch(function () { /* the next poll tries again */ });
}

function connect() {
  var es = new EventSource("/live/events");
  var status = document.getElementById("status");
  es.onopen = function () { status.textContent = "live"; document.body.dataset.live = "1"; };
  es.onerror = function () { status.textContent = "reconnecting…"; document.body.dataset.live = "0"; };
  es.onmessage = function (m) {
    var e;
    try { e = JSON.parse(m.data); } catch (x) { return; }
    if (e.type !== "lost" && !e.src) return;  // frames that were never IP (ARP, ...): counted in the drops table
    addRow(e);
    if (e.type !== "lost") drawFlow(e);
  };
}

fetch("/live/topology.json").then(function (r) { return r.json(); }).then(function (t) {
  drawTopology(t);
  document.body.dataset.topology = "1";
  connect();
  pollStats();
  setInterval(pollStats, 1000);
}).catch(function (e) { document.getElementById("status").textContent = "cannot load the topology: " + e; });
</script>
</body>
</html>
`;
