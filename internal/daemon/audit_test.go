package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/api"
)

// auditFloodBound is the bound this test sets on what 1,000
// unauthenticated requests with 256 KiB paths may add to the database
// (file and WAL): 1 MiB, against 256 MB if every path were stored.
const auditFloodBound = 1 << 20

// TestUnauthenticatedFloodBounded: 1,000 requests without a token and
// with huge URL paths to the TCP control listener leave the database under
// auditFloodBound; the audit log shows the first few and a summary of the
// rest; a caller with a valid token from the same address is served
// throughout.
func TestUnauthenticatedFloodBounded(t *testing.T) {
	dir := t.TempDir()
	top := "  listen: 127.0.0.1:0\n  tokens: [{name: ci, token: 0123456789abcdef0123}]\n"
	d := startDaemon(t, servicesConfig(t, dir, fmt.Sprintf(webService, sampleBin), top), true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	size := func() int64 {
		var n int64
		for _, ext := range []string{"", "-wal"} {
			if fi, err := os.Stat(filepath.Join(dir, "hotswap.db"+ext)); err == nil {
				n += fi.Size()
			}
		}
		return n
	}
	before := size()
	path := "/v1/" + strings.Repeat("a", 256<<10)
	statuses := map[int]int{}
	floodStart := time.Now()
	hc := &http.Client{Timeout: 10 * time.Second}
	tc := api.DialTCP("http://"+d.ControlAddr(), "0123456789abcdef0123")
	for i := 0; i < 1000; i++ {
		resp, err := hc.Get("http://" + d.ControlAddr() + path)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		statuses[resp.StatusCode]++
		if i%250 == 0 {
			if _, err := tc.Status(ctx, ""); err != nil {
				t.Fatalf("a valid token was refused during the flood: %v", err)
			}
		}
	}
	if statuses[http.StatusUnauthorized]+statuses[http.StatusTooManyRequests] != 1000 {
		t.Errorf("statuses %v, want only 401 and 429", statuses)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
	if err := d.Close(cctx); err != nil { // writes the summary row
		t.Fatal(err)
	}
	ccancel()
	grown := size() - before
	t.Logf("1000 unauthenticated requests with 256 KiB paths: statuses %v, database grew %d bytes (bound %d)", statuses, grown, auditFloodBound)
	if grown > auditFloodBound {
		t.Errorf("database grew %d bytes, want at most %d", grown, auditFloodBound)
	}

	d2 := startDaemon(t, servicesConfig(t, dir, fmt.Sprintf(webService, sampleBin), ""), true)
	rows, err := d2.Store().ListAudit(ctx, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	summary := false
	for _, a := range rows {
		if len(a.Action) > 300 || len(a.Detail) > 5000 {
			t.Errorf("audit row with a %d-byte action and %d-byte detail", len(a.Action), len(a.Detail))
		}
		if strings.Contains(a.Detail, "more rejected requests from 127.0.0.1") {
			summary = true
		}
	}
	// Per source and started minute: at most 10 rows one by one and one
	// summary (api.Rejects); a loaded machine may need several minutes.
	minutes := int(time.Since(floodStart)/time.Minute) + 1
	if len(rows) > minutes*11 || !summary {
		t.Errorf("%d audit rows over %d minute(s) (summary row: %v), want at most 11 a minute and a summary of the rest", len(rows), minutes, summary)
	}
}
