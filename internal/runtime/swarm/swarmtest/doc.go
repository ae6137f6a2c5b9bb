// Package swarmtest builds a real Docker Swarm cluster for tests on one
// machine and removes it afterwards: two or three extra dockerd daemons,
// each in a network namespace of its own, wired by veth pairs to a bridge
// in a further "hub" namespace, swarm-initialised on the first node and
// joined by the others through the moby client. The test process reaches
// every node through one more veth from the host namespace into the hub.
//
// Why namespaces and not containers (docker-in-docker): the daemons must
// not share the host engine's state, and nothing may be pulled, so each
// daemon gets its own --data-root, --exec-root, pidfile, unix socket and
// cgroup parent under a directory this package owns, the vfs storage driver
// (it works everywhere; the host's fuse-overlayfs needs a FUSE daemon per
// engine) and no iptables. Images are built in Go FROM scratch with the
// static sample app (package dockertest) and loaded on each node; services
// pin them by image ID, which a node resolves locally without a registry.
//
// Addresses: cluster k owns 10.213.k.0/24 (host side .1, node i .(10+i));
// the daemons' own bridges use 10.213.200.0/21 inside their namespaces.
// No namespace has a default route, so nothing a node does can leave it:
// a node that tries to pull fails at once with "network is unreachable".
//
// Ownership and stale runs: cluster k is owned by whoever holds an flock
// on <root>/hst<k>.lock, which the kernel releases when the process dies.
// Start takes the first free k and, before building, removes anything left
// under that name by a run that was killed (daemons by PID from their
// pidfiles, processes in the cluster's cgroups and namespaces, mounts under
// its directory, the namespaces and links named hst<k>…, the directory).
// Close does the same after a graceful daemon shutdown, so a failing test
// and a killed one leave the same nothing behind. Nothing outside those
// names is ever touched: the host engine and other helpers' containers and
// networks are not seen.
package swarmtest
