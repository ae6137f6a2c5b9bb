package release

import (
	"context"
	"database/sql"
	"fmt"
)

// Switch is one traffic move as the store records it. The engine writes it
// before it swaps the proxy's pointer (see ARCHITECTURE.md, "The cutover"),
// so the record always names what serves or what is about to: a crash
// between the two restarts onto what the record says.
type Switch struct {
	// Release becomes the service's Live release (from Deploying), or stays
	// Live with a new instance (a supervisor replacement, a re-adoption).
	Release int64
	// InstanceID and Addr are the instance that serves for Release, Spec
	// the configuration it was started with (Release.Spec).
	InstanceID, Addr, Spec string
	// Demote is the state the release that was Live moves to: Warm, Retired
	// or RolledBack. Unused when Release already is the Live one.
	Demote State
	// TakeOver is a Warm release whose running instance Release now owns
	// (a rollback onto the warm version): it moves to Retired and forgets
	// the instance, which from now on belongs to Release alone. 0 = none.
	TakeOver int64
}

// RecordSwitch records sw in one transaction: the taken-over release
// retires, the live one is demoted, Release becomes Live with its instance.
// It returns the id of the demoted release (0 if none). Any illegal edge
// gives a *TransitionError and nothing is written. Fields other than state,
// instance and the times the state machine stamps are left alone: a
// release's own duration never changes when another release moves.
func (s *Store) RecordSwitch(ctx context.Context, sw Switch) (demoted int64, err error) {
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		r, err := getTx(ctx, tx, sw.Release)
		if err != nil {
			return err
		}
		if sw.TakeOver != 0 {
			t, err := getTx(ctx, tx, sw.TakeOver)
			if err != nil {
				return err
			}
			if t.Service != r.Service || t.State != Warm {
				return fmt.Errorf("%w: release %d (%s, %s) is not a warm release of %s", ErrConflict, t.ID, t.Service, t.State, r.Service)
			}
			t.State, t.InstanceID, t.Addr = Retired, "", ""
			if err := s.save(ctx, tx, Warm, t); err != nil {
				return err
			}
		}
		if r.State != Live {
			if demoted, err = s.demoteLive(ctx, tx, r, sw.Demote); err != nil {
				return err
			}
		}
		from := r.State
		r.State, r.InstanceID, r.Addr, r.Spec = Live, sw.InstanceID, sw.Addr, sw.Spec
		return s.save(ctx, tx, from, r)
	})
	if err != nil {
		return 0, fmt.Errorf("record switch to release %d: %w", sw.Release, err)
	}
	s.finished(sw.Release) // a release that went live is worth a backup
	return demoted, nil
}
