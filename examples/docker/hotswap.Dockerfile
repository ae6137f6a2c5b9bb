# hotswap itself in a container, for compose.yaml. Like the app's image it
# is FROM scratch around a static binary that ./build.sh --hotswap builds
# first (hotswap is pure Go, SQLite included). Add CA certificates (e.g.
# COPY them from your distribution) if notify sends to HTTPS endpoints.
FROM scratch
COPY bin/hotswap /hotswap

# The config is mounted here; the CLI finds ./hotswap.yaml, so
#   docker compose exec hotswap /hotswap deploy web v2
# needs no -c, and the relative state_dir (./state) is /etc/hotswap/state.
WORKDIR /etc/hotswap

# Root, because it talks to the Docker socket, which is root on the host
# anyway: treat this container as part of the host's control plane.
ENTRYPOINT ["/hotswap"]
CMD ["serve", "--log-json"]
