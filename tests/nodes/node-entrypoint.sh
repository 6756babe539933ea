#!/bin/sh
# A node's main process: starts dockerd with the given arguments and stays up while that
# dockerd is stopped and started again (EngineNode.restart_engine), so the node's
# containers, volumes and swarm membership survive an engine restart as on a real machine.
rm -f /var/run/docker.pid
dockerd "$@" >>/var/log/dockerd.log 2>&1 &
stop() {
    pid=$(cat /var/run/docker.pid 2>/dev/null) && kill -TERM "$pid" 2>/dev/null
    while [ -e /var/run/docker.pid ]; do sleep 0.2; done
    exit 0
}
trap stop TERM INT
while :; do
    sleep 3600 &
    wait $!
done
