package webhooktest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/webhook"
)

// expect checks one response of a sequence.
func expect(t *testing.T, step string, r response, status int, dup bool) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", step, r.status, status, r.body)
	}
	if status == 202 && r.Duplicate != dup {
		t.Fatalf("%s: duplicate %v, want %v; body %s", step, r.Duplicate, dup, r.body)
	}
}

func expectCreated(t *testing.T, f *fixture, n int) {
	t.Helper()
	if _, created := f.enq.counts(); len(created) != n {
		t.Fatalf("%d deploys created, want %d: %+v", len(created), n, created)
	}
}

func testGitHubRedelivery(t *testing.T, newEnqueuer NewEnqueuer) {
	f := newFixture(t, newEnqueuer)
	h := f.github("web", webGitHubSecret, "package", "72d3162e-cc78-11e3-81ab-4c9367dc0958", pkg("acme", "web", "v1"))
	first := f.send(h)
	expect(t, "first", first, 202, false)
	again := f.send(h)
	expect(t, "redelivery", again, 202, true)
	if again.ID != first.ID {
		t.Fatalf("redelivery id %d, want %d", again.ID, first.ID)
	}
	expectCreated(t, f, 1)
	entries := f.audit.all()
	if len(entries) != 2 || entries[0].Outcome != webhook.OutcomeAccepted || entries[1].Outcome != webhook.OutcomeDuplicate {
		t.Fatalf("audit %+v, want accepted then duplicate", entries)
	}
	if entries[1].DeployID != first.ID {
		t.Fatalf("duplicate audited with deploy %d, want %d", entries[1].DeployID, first.ID)
	}
	// A new delivery of the same version is a new deploy: idempotency is
	// per delivery, not per version.
	expect(t, "new delivery", f.send(f.github("web", webGitHubSecret, "package", "other", pkg("acme", "web", "v1"))), 202, false)
	expectCreated(t, f, 2)
	f.checkAuditClean()
}

func testGenericReplay(t *testing.T, newEnqueuer NewEnqueuer) {
	f := newFixture(t, newEnqueuer)
	body := Deploy("v9", "", "", "")
	h := f.generic("web", webGenericSecret, f.now, "run-1", body)
	first := f.send(h)
	expect(t, "first", first, 202, false)
	expect(t, "exact replay", f.send(h), 202, true)

	// A captured request replayed under another delivery id, or none, is
	// still the same delivery: its signature was seen.
	forged := h
	forged.header = map[string]string{}
	for k, v := range h.header {
		forged.header[k] = v
	}
	forged.header[webhook.HeaderDelivery] = "run-2"
	r := f.send(forged)
	expect(t, "replay with another delivery id", r, 202, true)
	delete(forged.header, webhook.HeaderDelivery)
	r2 := f.send(forged)
	expect(t, "replay without delivery id", r2, 202, true)
	if r.ID != first.ID || r2.ID != first.ID {
		t.Fatalf("replays got ids %d, %d, want %d", r.ID, r2.ID, first.ID)
	}

	// A client retry re-signs with a new timestamp and the same delivery id.
	expect(t, "client retry", f.send(f.generic("web", webGenericSecret, f.now.Add(time.Second), "run-1", body)), 202, true)
	expectCreated(t, f, 1)

	// Without a delivery id, the same body sent again later is a new deploy.
	a := f.generic("web", webGenericSecret, f.now.Add(2*time.Second), "", body)
	expect(t, "no id, first", f.send(a), 202, false)
	expect(t, "no id, identical resend", f.send(a), 202, true)
	expect(t, "no id, new timestamp", f.send(f.generic("web", webGenericSecret, f.now.Add(3*time.Second), "", body)), 202, false)
	expectCreated(t, f, 3)
	f.checkAuditClean()
}

func testDockerHubResend(t *testing.T, newEnqueuer NewEnqueuer) {
	f := newFixture(t, newEnqueuer)
	h := f.dockerHub(apiDockerHubToken, DockerHubPush("acme/api", "v2", 1714557600))
	first := f.send(h)
	expect(t, "first", first, 202, false)
	again := f.send(h)
	expect(t, "resend", again, 202, true)
	if again.ID != first.ID {
		t.Fatalf("resend id %d, want %d", again.ID, first.ID)
	}
	expect(t, "new push of the same tag", f.send(f.dockerHub(apiDockerHubToken, DockerHubPush("acme/api", "v2", 1714557700))), 202, false)
	expectCreated(t, f, 2)
	f.checkAuditClean()
}

func testDeliveryPerService(t *testing.T, newEnqueuer NewEnqueuer) {
	f := newFixture(t, newEnqueuer)
	expect(t, "web", f.send(f.github("web", webGitHubSecret, "deploy", "same", Deploy("v1.0.0", "", "", ""))), 202, false)
	expect(t, "strict", f.send(f.github("strict", strictGitHubSecret, "deploy", "same", Deploy("v1.0.0", "", "", ""))), 202, false)
	expectCreated(t, f, 2)
}

// concurrently sends n copies of h at once and returns the responses.
func concurrently(f *fixture, n int, build func(i int) hook) []response {
	var wg sync.WaitGroup
	start := make(chan struct{})
	out := make([]response, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = f.send(build(i))
		}()
	}
	close(start)
	wg.Wait()
	return out
}

func checkOneDeploy(t *testing.T, f *fixture, rs []response) {
	t.Helper()
	fresh := 0
	for i, r := range rs {
		if r.status != 202 {
			t.Fatalf("request %d: status %d; body %s", i, r.status, r.body)
		}
		if r.ID != rs[0].ID {
			t.Fatalf("request %d: id %d, want %d", i, r.ID, rs[0].ID)
		}
		if !r.Duplicate {
			fresh++
		}
	}
	if fresh != 1 {
		t.Fatalf("%d responses say not duplicate, want 1", fresh)
	}
	expectCreated(t, f, 1)
	if n := len(f.audit.all()); n != len(rs) {
		t.Fatalf("%d audit entries, want %d", n, len(rs))
	}
}

func testConcurrentDuplicates(t *testing.T, newEnqueuer NewEnqueuer) {
	f := newFixture(t, newEnqueuer)
	h := f.github("web", webGitHubSecret, "package", "burst", pkg("acme", "web", "v3"))
	checkOneDeploy(t, f, concurrently(f, 50, func(int) hook { return h }))
}

func testConcurrentReplays(t *testing.T, newEnqueuer NewEnqueuer) {
	f := newFixture(t, newEnqueuer)
	h := f.generic("web", webGenericSecret, f.now, "", Deploy("v4", "", "", ""))
	checkOneDeploy(t, f, concurrently(f, 50, func(i int) hook {
		c := h
		c.header = map[string]string{}
		for k, v := range h.header {
			c.header[k] = v
		}
		c.header[webhook.HeaderDelivery] = fmt.Sprintf("forged-%d", i)
		return c
	}))
}
