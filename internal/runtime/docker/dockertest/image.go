package dockertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	goruntime "runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// LabelRef is set on every test image to the reference it was built for.
// It makes each image's ID unique (two tags never share an image by
// accident) and lets a leftover test image be recognised.
const LabelRef = "io.hotswap.test.ref"

// Port is the port the sample app listens on inside the test images.
const Port = 3000

// imageLayer is the one layer of every test image, compressed once.
// layerImgOnce owns it.
var (
	layerImgOnce sync.Once
	layerImg     v1.Layer
	layerImgErr  error
)

// SampleImage returns a FROM-scratch image holding the sample app, whose
// command is args. Its entrypoint, /entrypoint, runs the sample app with
// args that start with "-", a scripted one-shot program for "hook …" (see
// package testentry), and executes any other command as given.
func SampleImage(ctx context.Context, ref string, args []string) (v1.Image, error) {
	layerImgOnce.Do(func() {
		tarBytes, err := layer(ctx)
		if err != nil {
			layerImgErr = err
			return
		}
		layerImg, layerImgErr = tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(tarBytes)), nil
		}, tarball.WithCompressedCaching)
		if layerImgErr == nil {
			_, layerImgErr = layerImg.Digest() // compress now, once
		}
	})
	if layerImgErr != nil {
		return nil, fmt.Errorf("sample image layer: %w", layerImgErr)
	}
	img, err := mutate.AppendLayers(empty.Image, layerImg)
	if err != nil {
		return nil, fmt.Errorf("sample image %s: %w", ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("sample image %s: %w", ref, err)
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = goruntime.GOARCH
	cf.Created = v1.Time{Time: time.Now().UTC()}
	cf.Config = v1.Config{
		Entrypoint:   []string{"/entrypoint"},
		Cmd:          args,
		Env:          []string{"HOST=0.0.0.0", fmt.Sprintf("PORT=%d", Port)},
		ExposedPorts: map[string]struct{}{fmt.Sprintf("%d/tcp", Port): {}},
		Labels:       map[string]string{LabelRef: ref},
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("sample image %s: %w", ref, err)
	}
	return img, nil
}

// BuildImage builds SampleImage(ref, args) and loads it into the engine
// under ref, the way `docker load` would, so tests need no registry. The
// caller removes it (see Image, which registers that with t.Cleanup).
func BuildImage(ctx context.Context, cli *client.Client, ref string, args []string) error {
	tag, err := name.NewTag(ref, name.WeakValidation)
	if err != nil {
		return fmt.Errorf("build image %s: %w", ref, err)
	}
	img, err := SampleImage(ctx, ref, args)
	if err != nil {
		return err
	}
	return Load(ctx, cli, tag, img)
}

// Load writes img as a `docker save` tarball tagged tag straight into the
// engine's image load, and checks that the engine has it afterwards. The
// same img loaded into several engines has the same image ID everywhere
// (the swarm tests rely on that to pin services by ID).
func Load(ctx context.Context, cli *client.Client, tag name.Tag, img v1.Image) error {
	ref := tag.String()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarball.Write(tag, img, pw)) }()
	res, err := cli.ImageLoad(ctx, pr, client.ImageLoadWithQuiet(true))
	if err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("load image %s: %w", ref, err)
	}
	defer res.Close()
	// The load reports failures inside its JSON stream, not as an HTTP status.
	dec := json.NewDecoder(res)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("load image %s: read response: %w", ref, err)
		}
		if m.Error != nil {
			return fmt.Errorf("load image %s: %s", ref, m.Error.Message)
		}
	}
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		return fmt.Errorf("load image %s: not present after load: %w", ref, err)
	}
	return nil
}

// Image builds and loads a test image (see BuildImage) and removes it when
// t and its subtests are done.
func Image(t testing.TB, cli *client.Client, ref string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t.Cleanup(func() { RemoveImage(t, cli, ref) })
	if err := BuildImage(ctx, cli, ref, args); err != nil {
		t.Fatal(err)
	}
}

// RemoveImage deletes ref from the engine if it is there (a test helper
// for cleanups; a missing image is not an error).
func RemoveImage(t testing.TB, cli *client.Client, ref string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	if err != nil && !isNotFound(err) {
		t.Errorf("cleanup: remove image %s: %v", ref, err)
	}
}
