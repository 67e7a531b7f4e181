#!/bin/sh
# containerlab attaches a node's links after the container has started and
# tells it how many to expect in CLAB_INTFS: wait for them (at most 60 s),
# then run vpcd in the foreground.
want=${CLAB_INTFS:-0}
tries=0
while [ "$(ls /sys/class/net | grep -c '^eth[1-9]')" -lt "$want" ] && [ "$tries" -lt 600 ]; do
  sleep 0.1
  tries=$((tries + 1))
done
exec /opt/vpcd/bin/vpcd run /etc/vpcd/vpc.yaml "$@"
