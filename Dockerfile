# vpcd in a container. No Docker engine runs on the machines this project is
# developed on, so this file is kept simple and checked by reading only.
#
#   docker build -t vpcd .
#   docker run --rm --network host --cap-add NET_ADMIN --cap-add NET_RAW --cap-add SYS_ADMIN \
#     -v /run/netns:/run/netns:shared -v $PWD/config:/etc/vpcd:ro vpcd run /etc/vpcd/demo.yaml
#
# NET_RAW opens AF_PACKET sockets, NET_ADMIN sets promiscuous membership,
# SYS_ADMIN lets vpcd enter the data-plane network namespace (setns) when
# `dataplane.netns` is set; /run/netns must be shared with the host for that.

# ---- build: the N-API addon (node-gyp, g++) and the TypeScript (tsc)
FROM node:20-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
COPY native ./native
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm ci && npm prune --omit=dev

# ---- run: Node 20 and the few tools `vpcd lab` uses
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends iproute2 nftables iputils-ping \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/vpcd
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/native/build/Release/vpcd_io.node ./native/build/Release/vpcd_io.node
COPY --from=build /src/native/build/Release/vpcd_esp.node ./native/build/Release/vpcd_esp.node
COPY --from=build /src/dist ./dist
COPY bin ./bin
COPY config ./config
COPY schema ./schema
ENTRYPOINT ["/opt/vpcd/bin/vpcd"]
CMD ["run", "/opt/vpcd/config/demo.yaml"]
