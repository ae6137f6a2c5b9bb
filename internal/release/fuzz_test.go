package release

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzOpenDatabase: the database file is bytes from outside (a disk that
// lost a sector, a copy cut short). Whatever it holds, Open and Verify
// return an error or a store that answers; they never panic or hang.
func FuzzOpenDatabase(f *testing.F) {
	seedDir := f.TempDir()
	seed := filepath.Join(seedDir, "seed.db")
	s, err := Open(context.Background(), seed)
	if err != nil {
		f.Fatal(err)
	}
	if err := s.CreateRelease(context.Background(), &Release{Service: "web", Version: "v1", Kind: KindDeploy, State: Queued}); err != nil {
		f.Fatal(err)
	}
	s.Close()
	good, err := os.ReadFile(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("SQLite format 3\x00garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "hotswap.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = Verify(ctx, path)
		st, err := Open(ctx, path)
		if err != nil {
			return
		}
		defer st.Close()
		if _, err := st.LatestPerService(ctx); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Logf("query on an opened store: %v", err) // an error, not a panic: fine
		}
	})
}
