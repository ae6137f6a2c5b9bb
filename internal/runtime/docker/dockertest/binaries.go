package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The test images' single layer, built once per test process: compiling the
// sample app takes seconds, the images built from it take milliseconds.
// layerOnce owns layerTar and layerErr; they are read-only afterwards.
var (
	layerOnce sync.Once
	layerTar  []byte
	layerErr  error
)

// binaries are the static programs every test image holds: the path inside
// the image and the package (relative to the module root) it is built from.
var binaries = []struct{ path, pkg string }{
	{"/sampleapp", "./cmd/sampleapp"},
	{"/entrypoint", "./internal/runtime/docker/dockertest/testentry"},
}

// layer returns the uncompressed tar of the test images' file system.
func layer(ctx context.Context) ([]byte, error) {
	layerOnce.Do(func() { layerTar, layerErr = buildLayer(ctx) })
	return layerTar, layerErr
}

// buildLayer compiles the binaries statically into a temporary directory,
// reads them into a tar held in memory and deletes the directory, so nothing
// outlives the test process.
func buildLayer(ctx context.Context) ([]byte, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "hotswap-dockertest-")
	if err != nil {
		return nil, fmt.Errorf("build test binaries: %w", err)
	}
	defer os.RemoveAll(dir)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, b := range binaries {
		out := filepath.Join(dir, filepath.Base(b.path))
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, b.pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if msg, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %w\n%s", b.pkg, err, msg)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", out, err)
		}
		hdr := &tar.Header{
			Name:     strings.TrimPrefix(b.path, "/"),
			Mode:     0o755,
			Size:     int64(len(data)),
			Typeflag: tar.TypeReg,
			ModTime:  time.Unix(0, 0),
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("tar %s: %w", b.path, err)
		}
		if _, err := tw.Write(data); err != nil {
			return nil, fmt.Errorf("tar %s: %w", b.path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tar: %w", err)
	}
	return buf.Bytes(), nil
}

// moduleRoot asks the go command where go.mod is, so the helpers work from
// any package's test binary (tests run in their package directory).
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("go env GOMOD: not inside a module")
	}
	return filepath.Dir(gomod), nil
}
