package release

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCreateRelease(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		r       Release
		wantErr string
		state   State
		started bool
	}{
		{name: "defaults to queued", r: Release{Service: "web", Version: "v1", Kind: KindDeploy}, state: Queued},
		{name: "deploying stamps start", r: Release{Service: "web", Version: "v1", Kind: KindRollback, State: Deploying}, state: Deploying, started: true},
		{name: "no service", r: Release{Version: "v1", Kind: KindDeploy}, wantErr: "service is empty"},
		{name: "no version", r: Release{Service: "web", Kind: KindDeploy}, wantErr: "version is empty"},
		{name: "bad kind", r: Release{Service: "web", Version: "v1", Kind: "redeploy"}, wantErr: "kind"},
		{name: "bad source", r: Release{Service: "web", Version: "v1", Kind: KindDeploy, Source: Source{Kind: "ftp"}}, wantErr: "source kind"},
		{name: "born live", r: Release{Service: "web", Version: "v1", Kind: KindDeploy, State: Live}, wantErr: "must be queued or deploying"},
		{name: "unknown previous", r: Release{Service: "web", Version: "v1", Kind: KindDeploy, PreviousID: 999}, wantErr: "previous release 999"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			err := s.CreateRelease(ctx, &r)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if r.ID != 0 {
					t.Errorf("failed create set ID %d", r.ID)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.ID == 0 || r.CreatedAt.IsZero() || r.State != tt.state || r.StartedAt.IsZero() == tt.started {
				t.Errorf("created %+v", r)
			}
			if got := get(t, s, r.ID); !reflect.DeepEqual(*got, r) {
				t.Errorf("stored\n %+v\nreturned\n %+v", *got, r)
			}
		})
	}
	if _, err := s.GetRelease(ctx, 12345); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetRelease(missing) = %v, want ErrNotFound", err)
	}
}

// TestUpdateReleaseTransitions walks every path through the state machine
// with UpdateRelease and checks illegal steps are refused without writing.
func TestUpdateReleaseTransitions(t *testing.T) {
	tests := []struct {
		path    []State // legal steps from Queued
		illegal State   // then this must be refused
	}{
		{[]State{Deploying, Live, Warm, Retired}, Live},
		{[]State{Deploying, Live, Warm, Live}, Deploying},
		{[]State{Deploying, Live, Warm, RolledBack}, Live},
		{[]State{Deploying, Live, RolledBack}, Warm},
		{[]State{Deploying, Live, Retired}, Warm},
		{[]State{Deploying, Failed}, Deploying},
		{[]State{Deploying, Aborted}, Live},
		{[]State{Superseded}, Deploying},
		{[]State{Aborted}, Queued},
		{[]State{}, Live},
		{[]State{Deploying}, Warm},
		{[]State{}, "exploded"},
	}
	for _, tt := range tests {
		name := strings.Join(statesToStrings(tt.path), ">") + ">!" + string(tt.illegal)
		t.Run(name, func(t *testing.T) {
			s := openTest(t)
			ctx := context.Background()
			r := mk(t, s, "web", "v1")
			setState(t, s, r.ID, tt.path...)
			before := get(t, s, r.ID)
			err := s.UpdateRelease(ctx, r.ID, func(r *Release) error {
				r.State, r.Note = tt.illegal, "must not be written"
				return nil
			})
			if !errors.Is(err, ErrConflict) {
				t.Fatalf("-> %s: err = %v, want ErrConflict", tt.illegal, err)
			}
			var te *TransitionError
			if !errors.As(err, &te) || te.From != before.State || te.To != tt.illegal || te.ID != r.ID {
				t.Errorf("err = %#v, want TransitionError %s -> %s", err, before.State, tt.illegal)
			}
			if after := get(t, s, r.ID); !reflect.DeepEqual(after, before) {
				t.Errorf("refused update wrote: %+v", after)
			}
		})
	}
}

func statesToStrings(ss []State) []string {
	out := []string{string(Queued)}
	for _, s := range ss {
		out = append(out, string(s))
	}
	return out
}

func TestUpdateReleaseStampsTimes(t *testing.T) {
	s := openTest(t)
	r := mk(t, s, "web", "v1")
	if !r.StartedAt.IsZero() || !r.FinishedAt.IsZero() {
		t.Fatalf("queued release has times: %+v", r)
	}
	setState(t, s, r.ID, Deploying)
	dep := get(t, s, r.ID)
	if !dep.StartedAt.After(r.CreatedAt) || !dep.FinishedAt.IsZero() {
		t.Fatalf("deploying: %+v", dep)
	}
	setState(t, s, r.ID, Live)
	live := get(t, s, r.ID)
	if !live.FinishedAt.After(dep.StartedAt) || !live.LiveAt.Equal(live.FinishedAt) || live.Duration() != live.FinishedAt.Sub(live.StartedAt) {
		t.Fatalf("live: %+v", live)
	}
	setState(t, s, r.ID, Warm, Live)
	again := get(t, s, r.ID)
	if !again.LiveAt.After(live.LiveAt) || !again.FinishedAt.Equal(live.FinishedAt) || !again.StartedAt.Equal(live.StartedAt) {
		t.Errorf("re-live moved the wrong times: before %+v after %+v", live, again)
	}
}

func TestUpdateReleaseWritesFieldsAndRefusesBadChanges(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	r := mk(t, s, "web", "v1")

	if err := s.UpdateRelease(ctx, r.ID, func(r *Release) error {
		r.InstanceID, r.Addr, r.Runtime = "pid-42", "127.0.0.1:9000", "process"
		r.HookOutput = strings.Repeat("é", MaxText) // 2*MaxText bytes
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got := get(t, s, r.ID)
	if got.InstanceID != "pid-42" || got.Addr != "127.0.0.1:9000" || got.Runtime != "process" {
		t.Errorf("fields not written: %+v", got)
	}
	if len(got.HookOutput) > MaxText || !utf8.ValidString(got.HookOutput) || !strings.HasPrefix(got.HookOutput, "[… ") || !strings.HasSuffix(got.HookOutput, "éé") {
		t.Errorf("hook output not bounded to a valid tail: len %d prefix %q", len(got.HookOutput), got.HookOutput[:40])
	}

	boom := errors.New("boom")
	if err := s.UpdateRelease(ctx, r.ID, func(r *Release) error { r.Note = "x"; return boom }); !errors.Is(err, boom) {
		t.Errorf("fn error not returned: %v", err)
	}
	for name, change := range map[string]func(*Release){
		"Service":   func(r *Release) { r.Service = "api" },
		"Version":   func(r *Release) { r.Version = "v9" },
		"Kind":      func(r *Release) { r.Kind = KindRollback },
		"Source":    func(r *Release) { r.Source.DeliveryID = "forged" },
		"ID":        func(r *Release) { r.ID++ },
		"CreatedAt": func(r *Release) { r.CreatedAt = t0 },
	} {
		err := s.UpdateRelease(ctx, r.ID, func(r *Release) error { change(r); r.Note = "x"; return nil })
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("changing %s: err = %v", name, err)
		}
	}
	if after := get(t, s, r.ID); after.Note != "" {
		t.Errorf("refused updates wrote Note %q", after.Note)
	}
	if err := s.UpdateRelease(ctx, 999, func(*Release) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("update missing: %v", err)
	}
}

func TestOneLiveReleaseAndPromote(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	v1 := deployLive(t, s, "web", "v1", Warm)
	other := deployLive(t, s, "api", "v1", Warm) // another service does not interfere

	v2 := mk(t, s, "web", "v2")
	setState(t, s, v2.ID, Deploying)
	err := s.UpdateRelease(ctx, v2.ID, func(r *Release) error { r.State = Live; return nil })
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "already live") {
		t.Fatalf("second live via UpdateRelease: %v", err)
	}
	// An illegal demotion changes nothing.
	if _, err := s.Promote(ctx, v2.ID, Failed); !errors.Is(err, ErrConflict) {
		t.Fatalf("Promote demoting to failed: %v", err)
	}
	if got := get(t, s, v1.ID); got.State != Live {
		t.Fatalf("v1 is %s after refused promote", got.State)
	}

	demoted, err := s.Promote(ctx, v2.ID, Warm)
	if err != nil || demoted != v1.ID {
		t.Fatalf("Promote(v2) = %d, %v; want %d", demoted, err, v1.ID)
	}
	if st := get(t, s, v1.ID).State; st != Warm {
		t.Errorf("v1 is %s, want warm", st)
	}
	live, err := s.Live(ctx, "web")
	if err != nil || live.ID != v2.ID || live.LiveAt.IsZero() {
		t.Fatalf("Live(web) = %+v, %v", live, err)
	}
	if again, err := s.Promote(ctx, v2.ID, Warm); err != nil || again != 0 {
		t.Errorf("re-promoting live = %d, %v; want no-op", again, err)
	}

	// In-place rollback: the warm v1 flips back, v2 is known bad.
	if demoted, err := s.Promote(ctx, v1.ID, RolledBack); err != nil || demoted != v2.ID {
		t.Fatalf("rollback Promote(v1) = %d, %v", demoted, err)
	}
	if st := get(t, s, v2.ID).State; st != RolledBack {
		t.Errorf("v2 is %s, want rolled_back", st)
	}
	if live, _ := s.Live(ctx, "web"); live == nil || live.ID != v1.ID {
		t.Errorf("Live(web) = %+v, want v1", live)
	}
	if live, _ := s.Live(ctx, "api"); live == nil || live.ID != other.ID {
		t.Errorf("Live(api) = %+v, want %d", live, other.ID)
	}

	q := mk(t, s, "web", "v3")
	var te *TransitionError
	if _, err := s.Promote(ctx, q.ID, Warm); !errors.As(err, &te) || te.From != Queued {
		t.Errorf("Promote(queued) = %v, want TransitionError from queued", err)
	}
	if _, err := s.Promote(ctx, 999, Warm); !errors.Is(err, ErrNotFound) {
		t.Errorf("Promote(missing) = %v", err)
	}
	if _, err := s.Live(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Live(nope) = %v", err)
	}
}

func TestSupersedeQueued(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	running := mk(t, s, "web", "v1")
	setState(t, s, running.ID, Deploying)
	q2, q3 := mk(t, s, "web", "v2"), mk(t, s, "web", "v3")
	otherSvc := mk(t, s, "api", "v1")
	q4 := mk(t, s, "web", "v4")
	q5 := mk(t, s, "web", "v5") // newer than the keeper: untouched

	ids, err := s.SupersedeQueued(ctx, "web", q4.ID, "v4 queued")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ids, []int64{q2.ID, q3.ID}) {
		t.Fatalf("superseded %v, want [%d %d]", ids, q2.ID, q3.ID)
	}
	for id, want := range map[int64]State{running.ID: Deploying, q2.ID: Superseded, q3.ID: Superseded, otherSvc.ID: Queued, q4.ID: Queued, q5.ID: Queued} {
		if got := get(t, s, id); got.State != want {
			t.Errorf("release %d is %s, want %s", id, got.State, want)
		} else if want == Superseded && (got.Error != "v4 queued" || got.FinishedAt.IsZero()) {
			t.Errorf("superseded release %d: error %q finished %v", id, got.Error, got.FinishedAt)
		}
	}
	evs, err := s.Events(ctx, q2.ID, 0)
	if err != nil || len(evs) != 1 || evs[0].Step != "supersede" || !strings.Contains(evs[0].Message, "v4 queued") {
		t.Errorf("supersede event = %+v, %v", evs, err)
	}
	if ids, err := s.SupersedeQueued(ctx, "web", q4.ID, "again"); err != nil || len(ids) != 0 {
		t.Errorf("second supersede = %v, %v", ids, err)
	}
	if _, err := s.SupersedeQueued(ctx, "api", q4.ID, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("keeper of another service: %v", err)
	}
}

func TestRollbackTargets(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if _, err := s.LastGood(ctx, "web", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("LastGood on empty history = %v", err)
	}
	v1 := deployLive(t, s, "web", "v1", Warm)
	v2 := deployLive(t, s, "web", "v2", Warm) // v1 warm
	failed := mk(t, s, "web", "v9")
	setState(t, s, failed.ID, Deploying, Failed)
	v3 := deployLive(t, s, "web", "v3", Retired)  // v2 retired, v1 still warm
	_ = deployLive(t, s, "web", "v4", RolledBack) // v3 known bad, v4 live
	deployLive(t, s, "api", "v7", Warm)

	tests := []struct {
		fn      func() (*Release, error)
		want    int64 // 0: ErrNotFound
		comment string
	}{
		{func() (*Release, error) { return s.LastGood(ctx, "web", "v4") }, v2.ID, "skips rolled-back v3, takes most recently live"},
		{func() (*Release, error) { return s.FindVersion(ctx, "web", "v1") }, v1.ID, "warm counts"},
		{func() (*Release, error) { return s.FindVersion(ctx, "web", "v3") }, v3.ID, "named rolled-back version is allowed"},
		{func() (*Release, error) { return s.FindVersion(ctx, "web", "v9") }, 0, "never reached live"},
		{func() (*Release, error) { return s.FindVersion(ctx, "web", "v7") }, 0, "other service"},
	}
	for _, tt := range tests {
		got, err := tt.fn()
		switch {
		case tt.want == 0 && !errors.Is(err, ErrNotFound):
			t.Errorf("%s: got %+v, %v; want ErrNotFound", tt.comment, got, err)
		case tt.want != 0 && (err != nil || got.ID != tt.want):
			t.Errorf("%s: got %+v, %v; want release %d", tt.comment, got, err, tt.want)
		}
	}
	// The live release itself is a candidate unless its version is excluded.
	if got, err := s.LastGood(ctx, "web", "v2"); err != nil || got.Version != "v4" {
		t.Errorf("LastGood(exclude v2) = %+v, %v; want the live v4", got, err)
	}

	// Rolling back by a new release row: v2 again, then "previous" is v4.
	rb := &Release{Service: "web", Version: "v2", Kind: KindRollback, PreviousID: v3.ID}
	if err := s.CreateRelease(ctx, rb); err != nil {
		t.Fatal(err)
	}
	setState(t, s, rb.ID, Deploying)
	if _, err := s.Promote(ctx, rb.ID, RolledBack); err != nil {
		t.Fatal(err)
	}
	if got, err := s.FindVersion(ctx, "web", "v2"); err != nil || got.ID != rb.ID {
		t.Errorf("FindVersion(v2) = %+v, %v; want newest row %d", got, err, rb.ID)
	}
	if got, err := s.LastGood(ctx, "web", "v2"); err != nil || got.Version != "v1" {
		t.Errorf("LastGood after rollback = %+v, %v; want v1 (v4 rolled back, v3 rolled back)", got, err)
	}
}

func TestListing(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	a1, b1, a2, a3 := mk(t, s, "a", "1"), mk(t, s, "b", "1"), mk(t, s, "a", "2"), mk(t, s, "a", "3")
	setState(t, s, a2.ID, Deploying)
	setState(t, s, a1.ID, Deploying)

	ids := func(rs []Release, err error) []int64 {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		out := []int64{}
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	tests := []struct {
		name string
		got  []int64
		want []int64
	}{
		{"service newest first", ids(s.ListReleases(ctx, "a", 0)), []int64{a3.ID, a2.ID, a1.ID}},
		{"limit", ids(s.ListReleases(ctx, "a", 2)), []int64{a3.ID, a2.ID}},
		{"all services", ids(s.ListReleases(ctx, "", 0)), []int64{a3.ID, a2.ID, b1.ID, a1.ID}},
		{"unknown service", ids(s.ListReleases(ctx, "zzz", 0)), []int64{}},
		{"by state oldest first", ids(s.ByState(ctx, "a", Deploying)), []int64{a1.ID, a2.ID}},
		{"by states all services", ids(s.ByState(ctx, "", Queued, Live)), []int64{b1.ID, a3.ID}},
		{"no states", ids(s.ByState(ctx, "a")), []int64{}},
		{"latest per service", ids(s.LatestPerService(ctx)), []int64{a3.ID, b1.ID}},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}
