package swarmtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// removeAll deletes every trace of cluster k: what Close leaves after the
// graceful shutdown, and everything a killed run left. It is idempotent and
// touches only objects named for k (and processes found through them), so
// it is safe to run before building k and after tearing it down. Errors are
// collected, not stopped at: one stuck mount must not keep the namespaces.
func removeAll(ctx context.Context, n names, dir string) error {
	var errs []error
	// 1. Daemons, by the PIDs in their pidfiles, checked against their
	//    command line (a recycled PID belongs to someone else).
	nodeDirs, _ := filepath.Glob(filepath.Join(dir, "n*"))
	for _, d := range nodeDirs {
		pid := readPID(filepath.Join(d, "dockerd.pid"))
		if pid > 0 && cmdlineHas(pid, d) {
			terminate(pid, 10*time.Second)
		}
	}
	// 2. Containers: every process in the cluster's cgroups.
	cgroups := clusterCgroups(n)
	for _, cg := range cgroups {
		for _, pid := range cgroupProcs(cg) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	// 3. Whatever still lives in the nodes' namespaces (containerd, shims).
	for _, ns := range namespaces(ctx, n) {
		for _, pid := range netnsPIDs(ctx, ns) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for _, cg := range cgroups {
		waitEmpty(cg, 5*time.Second)
	}
	// cgroup directories go deepest first.
	sort.Slice(cgroups, func(i, j int) bool { return len(cgroups[i]) > len(cgroups[j]) })
	for _, cg := range cgroups {
		if err := os.Remove(cg); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", cg, err))
		}
	}
	// 4. Mounts under the cluster's directory (container shm, netns binds).
	if err := unmountUnder(dir); err != nil {
		errs = append(errs, err)
	}
	// 5. Namespaces (their veths go with them) and the host's link.
	for _, ns := range namespaces(ctx, n) {
		if err := ip(ctx, "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	if linkExists(ctx, n.hostLink()) {
		if err := ip(ctx, "link", "del", n.hostLink()); err != nil {
			errs = append(errs, err)
		}
	}
	// 6. The directory.
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
	}
	return errors.Join(errs...)
}

func readPID(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0
	}
	return pid
}

func cmdlineHas(pid int, s string) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(data), s)
}

func pidAlive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	// A zombie is dead for our purposes.
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(data))
	return len(f) < 3 || f[2] != "Z"
}

// terminate sends SIGTERM, waits up to grace for the process to go, then
// sends SIGKILL and waits a little more.
func terminate(pid int, grace time.Duration) {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if waitGone(pid, grace) {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	waitGone(pid, 5*time.Second)
}

func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !pidAlive(pid) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return !pidAlive(pid)
}

// clusterCgroups lists the cgroup directories (every v1 controller, or the
// v2 tree) under the cluster's cgroup parents "hst<k>-<i>", deepest last.
func clusterCgroups(n names) []string {
	var out []string
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + n.prefix() + "-*")
	v2, _ := filepath.Glob("/sys/fs/cgroup/" + n.prefix() + "-*")
	for _, r := range append(roots, v2...) {
		_ = filepath.WalkDir(r, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				out = append(out, p)
			}
			return nil
		})
	}
	return out
}

func cgroupProcs(dir string) []int {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

func waitEmpty(cg string, d time.Duration) {
	deadline := time.Now().Add(d)
	for len(cgroupProcs(cg)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
}

// namespaces lists the network namespaces named for the cluster, nodes
// before the hub (so node links leave the bridge first).
func namespaces(ctx context.Context, n names) []string {
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return nil
	}
	var nodes []string
	hub := ""
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], n.prefix()+"-") {
			continue
		}
		if f[0] == n.hub() {
			hub = f[0]
		} else {
			nodes = append(nodes, f[0])
		}
	}
	if hub != "" {
		nodes = append(nodes, hub)
	}
	return nodes
}

func netnsPIDs(ctx context.Context, ns string) []int {
	out, err := exec.CommandContext(ctx, "ip", "netns", "pids", ns).Output()
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

func linkExists(ctx context.Context, name string) bool {
	return exec.CommandContext(ctx, "ip", "link", "show", name).Run() == nil
}

// unmountUnder detaches every mount point at or below dir, deepest first.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			points = append(points, mp)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space…).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
