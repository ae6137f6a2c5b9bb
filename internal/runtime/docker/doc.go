// Package docker runs each version of a service as a Docker container,
// through the Engine API (github.com/moby/moby/client), never the docker
// CLI. A Runtime is bound to one service and one image repository; a
// version is a tag of that repository ("v2") or a digest ("@sha256:…").
//
// # How the proxy reaches a container
//
// Every container joins one user-defined bridge network (Config.Network,
// "hotswap" by default, created when missing) so the app reaches its
// databases and caches by container name. How hotswap's proxy reaches the
// app depends on where hotswap runs (Config.Reach):
//
//   - "host": hotswap runs on the Docker host. The container port is
//     published on 127.0.0.1 only, with an ephemeral host port chosen by the
//     engine, so each version gets its own port and nothing is exposed
//     beyond loopback. Instance.Addr is "127.0.0.1:<host port>".
//   - "network": hotswap itself runs in a container attached to the same
//     network. Nothing is published; Instance.Addr is the container's IP on
//     that network and the container port ("172.20.0.5:3000").
//   - "auto" (default): "network" when /.dockerenv exists (hotswap is in a
//     container), else "host".
//
// In both modes two versions run side by side on distinct addresses, which
// is what lets the proxy switch between them without dropping requests.
//
// # Containers
//
// Containers are named "hotswap-<service>-<version>-<release>" and labelled
// io.hotswap.managed=true, io.hotswap.service, io.hotswap.version,
// io.hotswap.release and io.hotswap.spec (a hash of everything that shapes
// the container). List finds a service's containers by label, so a daemon
// restart loses nothing. Stop keeps the container: starting the same
// version again with the same settings restarts that container (a rollback
// needs no pull and no new container); Remove deletes it and its anonymous
// volumes.
//
// Images are the other resource the runtime leaves behind; Images and Prune
// let the deploy engine keep only the versions it may still roll back to.
package docker
