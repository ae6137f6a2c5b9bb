package docker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
)

// ImageInfo is one local image of the service's repository, as image
// retention sees it.
type ImageInfo struct {
	ID      string    // image ID ("sha256:…")
	Tags    []string  // tags of this repository pointing at it ("v2")
	Digests []string  // repository digests ("sha256:…"), for images pulled by or with digest
	Size    int64     // bytes, including layers shared with other images
	Created time.Time // when the image was built
	InUse   bool      // a hotswap container (any state) was created from it
}

// Versions are the versions that name this image: its tags, and its
// digests as "@sha256:…".
func (i ImageInfo) Versions() []string {
	v := slices.Clone(i.Tags)
	for _, d := range i.Digests {
		v = append(v, "@"+d)
	}
	return v
}

// Images lists the local images of the service's repository, newest first.
func (r *Runtime) Images(ctx context.Context) ([]ImageInfo, error) {
	res, err := r.cli.ImageList(ctx, client.ImageListOptions{
		Filters: make(client.Filters).Add("reference", r.cfg.Image),
	})
	if err != nil {
		return nil, fmt.Errorf("list images of %s: %w", r.cfg.Image, err)
	}
	used, err := r.imagesInUse(ctx)
	if err != nil {
		return nil, err
	}
	var out []ImageInfo
	for _, s := range res.Items {
		info := r.imageInfo(s)
		if len(info.Tags) == 0 && len(info.Digests) == 0 {
			continue // matched the filter through another name only
		}
		info.InUse = used[s.ID]
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b ImageInfo) int { return b.Created.Compare(a.Created) })
	return out, nil
}

// imageInfo keeps the tags and digests of s that belong to our repository.
func (r *Runtime) imageInfo(s image.Summary) ImageInfo {
	info := ImageInfo{ID: s.ID, Size: s.Size, Created: time.Unix(s.Created, 0)}
	for _, t := range s.RepoTags {
		if i := strings.LastIndex(t, ":"); i > 0 && !strings.Contains(t[i:], "/") && sameRepo(t[:i], r.cfg.Image) {
			info.Tags = append(info.Tags, t[i+1:])
		}
	}
	for _, d := range s.RepoDigests {
		if repo, dg, ok := strings.Cut(d, "@"); ok && sameRepo(repo, r.cfg.Image) {
			info.Digests = append(info.Digests, dg)
		}
	}
	return info
}

// imagesInUse are the image IDs of every hotswap container, any state,
// any service: an image a stopped container still needs for a rollback
// must stay.
func (r *Runtime) imagesInUse(ctx context.Context) (map[string]bool, error) {
	res, err := r.cli.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", LabelManaged+"=true"),
	})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	used := map[string]bool{}
	for _, c := range res.Items {
		used[c.ImageID] = true
	}
	return used, nil
}

// Prune removes the repository's images that no version in keep names
// and no hotswap container uses, and returns the removed references and
// the bytes freed (the sizes of images actually deleted, layers shared with
// other images included, so an upper bound). A kept image is never touched;
// an image some other container still needs is skipped, not forced.
func (r *Runtime) Prune(ctx context.Context, keep []string) (removed []string, freedBytes int64, err error) {
	kept := map[string]bool{}
	for _, k := range keep {
		kept[strings.TrimPrefix(k, "@")] = true
	}
	images, err := r.Images(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("prune: %w", err)
	}
	for _, img := range images {
		if img.InUse || slices.ContainsFunc(img.Versions(), func(v string) bool { return kept[strings.TrimPrefix(v, "@")] }) {
			continue
		}
		refs := make([]string, 0, len(img.Tags)+1)
		for _, t := range img.Tags {
			refs = append(refs, r.cfg.Image+":"+t)
		}
		if len(refs) == 0 {
			refs = append(refs, r.cfg.Image+"@"+img.Digests[0])
		}
		for _, ref := range refs {
			res, err := r.cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true})
			switch {
			case cerrdefs.IsConflict(err):
				r.log.Info("image still in use elsewhere; kept", "ref", ref, "err", err)
				continue
			case cerrdefs.IsNotFound(err):
				continue
			case err != nil:
				return removed, freedBytes, fmt.Errorf("prune %s: %w", ref, err)
			}
			removed = append(removed, ref)
			for _, d := range res.Items {
				if d.Deleted == img.ID {
					freedBytes += img.Size
				}
			}
		}
	}
	if len(removed) > 0 {
		r.log.Info("pruned images", "removed", removed, "freed_bytes", freedBytes)
	}
	return removed, freedBytes, nil
}

// sameRepo compares repositories the way the engine does ("web" is
// "docker.io/library/web").
func sameRepo(a, b string) bool {
	na, err1 := reference.ParseNormalizedNamed(a)
	nb, err2 := reference.ParseNormalizedNamed(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	return na.Name() == nb.Name()
}
