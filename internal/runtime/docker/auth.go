package docker

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/registry"
)

// registryHost is the registry part of an image reference ("docker.io" for
// Docker Hub images).
func registryHost(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", ref, err)
	}
	return reference.Domain(named), nil
}

// registryAuth is the encoded X-Registry-Auth value for pulling ref: the
// configured login, else the Docker config file's entry for the registry,
// else "" (anonymous). A config file that cannot be read only costs the
// credentials it would have given, with a warning.
func (r *Runtime) registryAuth(ref string) (string, error) {
	host, err := registryHost(ref)
	if err != nil {
		return "", err
	}
	ac := registry.AuthConfig{ServerAddress: host}
	if a := r.cfg.RegistryAuth; a != nil {
		ac.Username, ac.Password = a.Username, a.Password
	} else {
		found, err := credsFromDockerConfig(r.dockerConfigPath(), host)
		if err != nil {
			r.log.Warn("registry credentials from Docker config not used", "registry", host, "err", err)
		}
		if found == nil {
			return "", nil
		}
		ac.Username, ac.Password, ac.IdentityToken = found.Username, found.Password, found.IdentityToken
	}
	enc, err := authconfig.Encode(ac)
	if err != nil {
		return "", fmt.Errorf("encode credentials for %s: %w", host, err)
	}
	return enc, nil
}

// dockerConfigPath is where the Docker CLI keeps its config.
func (r *Runtime) dockerConfigPath() string {
	if r.cfg.DockerConfig != "" {
		return r.cfg.DockerConfig
	}
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".docker", "config.json")
}

// dockerConfigFile is the part of ~/.docker/config.json hotswap reads.
type dockerConfigFile struct {
	Auths map[string]struct {
		Auth          string `json:"auth"`
		IdentityToken string `json:"identitytoken"`
	} `json:"auths"`
	CredsStore string `json:"credsStore"`
}

// credsFromDockerConfig finds host's login in a Docker config file, where
// "auths" keys may be "host", "https://host" or "https://host/v1/", and
// Docker Hub is "https://index.docker.io/v1/". It returns nil, nil when the
// file or the entry does not exist.
func credsFromDockerConfig(path, host string) (*registry.AuthConfig, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("docker config: %w", err)
	}
	var cf dockerConfigFile
	if err := json.Unmarshal(data, &cf); err != nil {
		return nil, fmt.Errorf("docker config %s: %w", path, err)
	}
	for key, entry := range cf.Auths {
		if normalizeRegistry(key) != normalizeRegistry(host) {
			continue
		}
		ac := &registry.AuthConfig{IdentityToken: entry.IdentityToken}
		if entry.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(entry.Auth)
			if err != nil {
				return nil, fmt.Errorf("docker config %s: auths[%q].auth is not base64", path, key)
			}
			user, pass, ok := strings.Cut(string(raw), ":")
			if !ok {
				return nil, fmt.Errorf("docker config %s: auths[%q].auth is not user:password", path, key)
			}
			ac.Username, ac.Password = user, pass
		}
		return ac, nil
	}
	if cf.CredsStore != "" {
		return nil, fmt.Errorf("docker config %s: no auths entry for %s, and credential helpers (%q) are not supported: configure the registry credentials in hotswap instead", path, host, cf.CredsStore)
	}
	return nil, nil
}

// normalizeRegistry reduces a registry address to its host so config keys
// and reference domains compare equal.
func normalizeRegistry(s string) string {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	s, _, _ = strings.Cut(s, "/")
	s = strings.ToLower(s)
	switch s {
	case "index.docker.io", "registry-1.docker.io", "docker.io":
		return "docker.io"
	}
	return s
}
