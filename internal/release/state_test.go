package release

import (
	"errors"
	"strings"
	"testing"
)

func TestValidIsExactlyTheStateMachine(t *testing.T) {
	legal := map[[2]State]bool{
		{Queued, Deploying}: true, {Queued, Superseded}: true, {Queued, Aborted}: true,
		{Deploying, Live}: true, {Deploying, Failed}: true, {Deploying, Aborted}: true, {Deploying, RolledBack}: true,
		{Live, Warm}: true, {Live, Retired}: true, {Live, RolledBack}: true,
		{Warm, Live}: true, {Warm, Retired}: true, {Warm, RolledBack}: true,
	}
	for _, from := range States {
		for _, to := range States {
			if got, want := Valid(from, to), legal[[2]State{from, to}]; got != want {
				t.Errorf("Valid(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
	if Valid("bogus", Queued) || Valid(Queued, "bogus") {
		t.Error("Valid accepts an unknown state")
	}
}

func TestStatePredicates(t *testing.T) {
	tests := []struct {
		s                 State
		terminal, wasLive bool
	}{
		{Queued, false, false},
		{Deploying, false, false},
		{Live, false, true},
		{Warm, false, true},
		{Retired, true, true},
		{Failed, true, false},
		{Aborted, true, false},
		{Superseded, true, false},
		{RolledBack, true, true},
	}
	if len(tests) != len(States) {
		t.Fatalf("table covers %d states, States has %d", len(tests), len(States))
	}
	for _, tt := range tests {
		if !tt.s.Known() {
			t.Errorf("%s not Known", tt.s)
		}
		if got := tt.s.Terminal(); got != tt.terminal {
			t.Errorf("%s.Terminal() = %v, want %v", tt.s, got, tt.terminal)
		}
		if got := tt.s.ReachedLive(); got != tt.wasLive {
			t.Errorf("%s.ReachedLive() = %v, want %v", tt.s, got, tt.wasLive)
		}
		if tt.s.String() != string(tt.s) {
			t.Errorf("String() = %q", tt.s.String())
		}
	}
	if State("running").Known() {
		t.Error(`State("running").Known() = true`)
	}
}

func TestTransitionErrorNamesBothStatesAndIsConflict(t *testing.T) {
	var err error = &TransitionError{ID: 7, From: Failed, To: Live}
	if !errors.Is(err, ErrConflict) {
		t.Error("TransitionError is not ErrConflict")
	}
	if msg := err.Error(); !strings.Contains(msg, "failed -> live") || !strings.Contains(msg, "7") {
		t.Errorf("message %q does not name release and states", msg)
	}
}
