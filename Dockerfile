# vpcd in a container. No container engine runs where vpcd is developed and
# tested, so this file is checked by reading only (README.md, "Docker").
#
#   docker build -t vpcd .
#
# Run the daemon next to a lab made on the host (the host's namespaces, where
# `vpcd lab up` put the interfaces vpcd owns):
#
#   sudo ./bin/vpcd lab up config/demo.yaml
#   docker run -d --name vpcd --network host --pid host \
#     --cap-add NET_ADMIN --cap-add NET_RAW --cap-add SYS_ADMIN \
#     -v /run/netns:/run/netns:shared -v "$PWD/config:/etc/vpcd:ro" \
#     vpcd run /etc/vpcd/demo.yaml
#
# NET_RAW opens the AF_PACKET sockets; NET_ADMIN sets interfaces up and
# promiscuous, and lets `vpcd lab` create veths and routes; SYS_ADMIN enters
# the data-plane namespace (setns) and lets `vpcd lab` create namespaces
# (mounts under /run/netns). /run/netns must be the host's, shared both ways,
# so namespaces made on either side are seen on the other. --pid host lets
# `attach: { pid: N }` reach other containers' namespaces (/proc/N/ns/net);
# `attach: { container: NAME }` asks the docker or podman CLI, which this image
# has only when built with --build-arg CONTAINER_CLI=podman (or docker.io),
# and then needs the engine's socket mounted too.
#
# The healthcheck asks /healthz on metrics.listen; set VPCD_HEALTH_URL when the
# configuration listens elsewhere than 127.0.0.1:9469.

# ---- build: the N-API addon (node-gyp: python3, make, g++, all in the
# node:20-bookworm image) and the TypeScript (tsc), then the runtime deps only.
FROM node:20-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
COPY native/binding.gyp ./native/binding.gyp
COPY native/src ./native/src
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm ci && npm prune --omit=dev

# ---- run: Node 20 and the tools `vpcd lab` runs: ip (iproute2), nft
# (nftables, NAT instances), ethtool (offloads when vnetHeader is false),
# sysctl (procps), nsenter (util-linux, attached namespaces), ping.
FROM node:20-bookworm-slim
ARG CONTAINER_CLI=""
RUN apt-get update \
    && apt-get install -y --no-install-recommends iproute2 nftables ethtool procps util-linux iputils-ping ${CONTAINER_CLI} \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/log/vpcd /run/vpcd && chmod 0750 /var/log/vpcd
WORKDIR /opt/vpcd
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/native/build/Release/vpcd_io.node ./native/build/Release/vpcd_io.node
COPY --from=build /src/native/build/Release/vpcd_esp.node ./native/build/Release/vpcd_esp.node
COPY --from=build /src/dist ./dist
COPY bin ./bin
COPY config ./config
COPY schema ./schema
ENV PATH="/opt/vpcd/bin:${PATH}" \
    VPCD_HEALTH_URL="http://127.0.0.1:9469/healthz"
EXPOSE 9469
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.VPCD_HEALTH_URL).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/opt/vpcd/bin/vpcd"]
CMD ["run", "/opt/vpcd/config/demo.yaml"]
