package dockerexample_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"

	"github.com/hotswap/hotswap/internal/runtime/docker/dockertest"
)

// buildApp compiles the example app the way build.sh does (static, for
// Linux) into a temporary directory, so the source tree gets no bin/.
func buildApp(ctx context.Context, t *testing.T) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "web")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./app")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goruntime.GOARCH)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./app: %v\n%s", err, msg)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("read built app: %v", err)
	}
	return bin
}

// buildContext is the tar the docker CLI would send for `docker build .`
// in examples/docker after build.sh compiled the app: the real Dockerfile
// and .dockerignore, and bin/web.
func buildContext(t *testing.T, bin []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, mode int64, data []byte) {
		hdr := &tar.Header{Name: name, Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar %s: %v", name, err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatalf("tar %s: %v", name, err)
		}
	}
	for _, f := range []string{"Dockerfile", ".dockerignore"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		add(f, 0o644, data)
	}
	add("bin/web", 0o755, bin)
	if err := tw.Close(); err != nil {
		t.Fatalf("tar: %v", err)
	}
	return buf.Bytes()
}

// buildImage builds the example's Dockerfile as ref with VERSION=version
// through the Engine API (like `docker build --build-arg VERSION=… -t ref .`)
// and removes the image when t ends. The image is labelled with
// dockertest.LabelRef so a leftover one is recognisable.
func buildImage(ctx context.Context, t *testing.T, cli *client.Client, buildCtx []byte, ref, version string) {
	t.Helper()
	t.Cleanup(func() { dockertest.RemoveImage(t, cli, ref) })
	res, err := cli.ImageBuild(ctx, bytes.NewReader(buildCtx), client.ImageBuildOptions{
		Tags:        []string{ref},
		Dockerfile:  "Dockerfile",
		BuildArgs:   map[string]*string{"VERSION": &version},
		Labels:      map[string]string{dockertest.LabelRef: ref},
		Remove:      true,
		ForceRemove: true,
	})
	if err != nil {
		t.Fatalf("build %s: %v", ref, err)
	}
	defer res.Body.Close()
	// A failed step is reported inside the JSON stream, not as an HTTP status.
	var log bytes.Buffer
	dec := json.NewDecoder(res.Body)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("build %s: read response: %v", ref, err)
		}
		log.WriteString(m.Stream)
		if m.Error != nil {
			t.Fatalf("build %s: %s\n%s", ref, m.Error.Message, log.String())
		}
	}
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		t.Fatalf("build %s: image not present afterwards: %v\n%s", ref, err, log.String())
	}
}

// containerIPsRoutable reports whether this process can dial container
// addresses on the engine's bridge networks directly, which reach: network
// needs: true when this machine has an address inside the default bridge's
// subnet (its gateway, docker0), i.e. the engine runs in this network
// namespace: a Linux host, or hotswap in the engine's own container. A
// remote engine or Docker Desktop's VM gives false. The subnet, for the
// skip message, is also returned.
func containerIPsRoutable(ctx context.Context, cli *client.Client) (bool, string, error) {
	res, err := cli.NetworkInspect(ctx, "bridge", client.NetworkInspectOptions{})
	if err != nil {
		return false, "", fmt.Errorf("inspect the default bridge network: %w", err)
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false, "", fmt.Errorf("local addresses: %w", err)
	}
	var subnets []string
	for _, c := range res.Network.IPAM.Config {
		if !c.Subnet.IsValid() {
			continue
		}
		subnets = append(subnets, c.Subnet.String())
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok && c.Subnet.Contains(ip.Unmap()) {
				return true, c.Subnet.String(), nil
			}
		}
	}
	return false, strings.Join(subnets, ", "), nil
}
