package swarmtest

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

const envChildMarker = "HOTSWAP_SWARMTEST_CHILD_MARKER"

// leftover is what the child of TestKilledRunLeftoversRemoved tells its
// parent about the cluster it built.
type leftover struct {
	K         int    `json:"k"`
	Dir       string `json:"dir"`
	DockerPID int    `json:"dockerd_pid"`
}

// TestChildBuildsAndHangs is not a test: it is the process that
// TestKilledRunLeftoversRemoved kills. It builds a one-node cluster with a
// running task, reports it, and waits to be killed.
func TestChildBuildsAndHangs(t *testing.T) {
	marker := os.Getenv(envChildMarker)
	if marker == "" {
		t.Skip("the child of TestKilledRunLeftoversRemoved")
	}
	ctx := context.Background()
	c, err := Start(ctx, Options{Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.LoadImage(ctx, "hotswap-swarmtest/killed:v1", []string{"--version", "v1"})
	if err != nil {
		t.Fatal(err)
	}
	one := uint64(1)
	svc, err := c.Manager().Client.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: "killed"},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: id}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}},
		EndpointSpec: &swarm.EndpointSpec{Ports: []swarm.PortConfig{{Protocol: network.TCP, TargetPort: 3000, PublishMode: swarm.PortConfigPublishModeHost}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for running := false; !running; time.Sleep(100 * time.Millisecond) {
		tasks, err := c.Manager().Client.TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", svc.ID)})
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks.Items {
			running = running || task.Status.State == swarm.TaskStateRunning
		}
	}
	data, _ := json.Marshal(leftover{K: c.names.k, Dir: c.dir, DockerPID: c.Nodes[0].cmd.Process.Pid})
	if err := os.WriteFile(marker, data, 0o600); err != nil {
		t.Fatal(err)
	}
	select {} // until SIGKILL
}

// TestKilledRunLeftoversRemoved: a test process that built a cluster with
// a running container is killed with SIGKILL. Whoever takes its cluster
// number next removes everything it left: daemon, container processes,
// cgroups, mounts, namespaces, links and directory.
func TestKilledRunLeftoversRemoved(t *testing.T) {
	if err := available(context.Background()); err != nil {
		t.Skip(err)
	}
	marker := filepath.Join(t.TempDir(), "leftover.json")
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildBuildsAndHangs$", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), envChildMarker+"="+marker)
	out, err := os.Create(filepath.Join(t.TempDir(), "child.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var left leftover
	deadline := time.Now().Add(3 * time.Minute)
	for {
		data, err := os.ReadFile(marker)
		if err == nil && json.Unmarshal(data, &left) == nil {
			break
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(out.Name())
			t.Fatalf("child exited (%v) before building its cluster:\n%s", err, log)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("child did not build its cluster within 3 minutes")
		}
	}
	n := names{k: left.K}
	procs := 0
	for _, cg := range clusterCgroups(n) {
		procs += len(cgroupProcs(cg))
	}
	if procs == 0 {
		t.Fatalf("setup: no container processes in the child's cgroups")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited

	// Take the number as Start would (the kernel released the child's
	// lock), and clean up.
	lock, err := os.OpenFile(filepath.Join(Root, n.prefix()+".lock"), os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := removeAll(ctx, n, left.Dir); err != nil {
		t.Fatalf("remove the killed run's cluster: %v", err)
	}
	if pidAlive(left.DockerPID) {
		t.Errorf("the killed run's dockerd %d still runs", left.DockerPID)
	}
	assertGone(t, &Cluster{names: n, dir: left.Dir})
}
