package dockertest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
)

// TestBuildImageRuns: a built image is in the engine with our label, and a
// container of it runs the sample app ("hook" goes to the scripted program).
func TestBuildImageRuns(t *testing.T) {
	cli := Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ref := fmt.Sprintf("hotswap-dockertest/build:%d", time.Now().UnixNano())
	Image(t, cli, ref, "hook", "--exit", "5")
	ins, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatalf("inspect %s: %v", ref, err)
	}
	if got := ins.Config.Labels[LabelRef]; got != ref {
		t.Errorf("label %s = %q, want %q", LabelRef, got, ref)
	}
	out, code := runOnce(ctx, t, cli, ref)
	if code != 5 || !strings.Contains(out, "hook ran: --exit 5") {
		t.Fatalf("container exited %d with output %q, want 5 and the hook's words", code, out)
	}
}

// TestRegistryPull: an image pushed to the in-process registry behind basic
// auth pulls into the engine with the credentials and not without; this also
// proves the engine reaches a plain-HTTP registry on 127.0.0.1.
func TestRegistryPull(t *testing.T) {
	cli := Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	host := StartRegistry(t, "alice", "s3cret")
	Push(t, host, "test/web", "v1")
	ref := host + "/test/web:v1"
	t.Cleanup(func() { RemoveImage(t, cli, ref) })

	if err := pull(ctx, cli, ref, ""); err == nil {
		t.Fatal("pull without credentials succeeded")
	}
	auth, err := authconfig.Encode(registry.AuthConfig{Username: "alice", Password: "s3cret", ServerAddress: host})
	if err != nil {
		t.Fatal(err)
	}
	if err := pull(ctx, cli, ref, auth); err != nil {
		t.Fatalf("pull with credentials: %v", err)
	}
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		t.Fatalf("pulled image not present: %v", err)
	}
}

func pull(ctx context.Context, cli *client.Client, ref, auth string) error {
	resp, err := cli.ImagePull(ctx, ref, client.ImagePullOptions{RegistryAuth: auth})
	if err != nil {
		return err
	}
	defer resp.Close()
	return resp.Wait(ctx)
}

// runOnce runs ref to completion and returns its output and exit code.
func runOnce(ctx context.Context, t *testing.T, cli *client.Client, ref string) (string, int) {
	t.Helper()
	c, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{Image: ref, Labels: map[string]string{"io.hotswap.test": t.Name()}},
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	RemoveContainers(t, cli, "io.hotswap.test", t.Name())
	wait := cli.ContainerWait(ctx, c.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := cli.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("start: %v", err)
	}
	var code int
	select {
	case r := <-wait.Result:
		code = int(r.StatusCode)
	case err := <-wait.Error:
		t.Fatalf("wait: %v", err)
	}
	logs, err := cli.ContainerLogs(ctx, c.ID, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatalf("logs: %v", err)
	}
	defer logs.Close()
	var sb strings.Builder
	if _, err := stdcopy.StdCopy(&sb, &sb, logs); err != nil {
		t.Fatalf("logs: %v", err)
	}
	return sb.String(), code
}
