package docker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// networkMu serialises network creation within this process: the engine
// (API < 1.44) happily creates two networks with the same name, and two
// services of one daemon would otherwise race to create "hotswap".
var networkMu sync.Mutex

// ensureNetwork makes sure Config.Network exists, creating a bridge network
// when it does not. It checks every time rather than caching, so a network
// someone deleted is recreated at the next start.
func (r *Runtime) ensureNetwork(ctx context.Context) error {
	name := r.cfg.Network
	networkMu.Lock()
	defer networkMu.Unlock()
	_, err := r.cli.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err == nil {
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("network %s: %w", name, err)
	}
	res, err := r.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{
		Driver: "bridge",
		Labels: map[string]string{LabelManaged: "true"},
	})
	if err != nil {
		if cerrdefs.IsConflict(err) { // created meanwhile by another process
			return nil
		}
		return fmt.Errorf("create network %s: %w", name, err)
	}
	r.log.Info("created network", "network", name, "id", res.ID)
	return r.dedupeNetwork(ctx, name, res.ID)
}

// dedupeNetwork resolves a creation race with another process: when
// several networks carry name, every creator keeps the oldest (ties broken
// by ID, so all agree) and removes its own if it is not that one.
func (r *Runtime) dedupeNetwork(ctx context.Context, name, ours string) error {
	res, err := r.cli.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("name", name)})
	if err != nil {
		return fmt.Errorf("list networks %s: %w", name, err)
	}
	var same []network.Summary
	for _, n := range res.Items {
		if n.Name == name { // the filter matches substrings
			same = append(same, n)
		}
	}
	if len(same) < 2 {
		return nil
	}
	slices.SortFunc(same, func(a, b network.Summary) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if same[0].ID == ours {
		return nil
	}
	r.log.Warn("network created twice concurrently; removing ours", "network", name, "id", ours)
	if _, err := r.cli.NetworkRemove(ctx, ours, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove duplicate network %s (%s): %w", name, ours, err)
	}
	return nil
}
