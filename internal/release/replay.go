package release

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// ClaimReplay is the generic webhook's replay window, kept in the database
// so that a daemon restart does not forget it: it returns the delivery id
// under which sig (the request's canonical signature) was first accepted,
// if that is still within its window, else records deliveryID for sig
// until expires and returns it. Only a SHA-256 of sig is stored. Expired
// entries are deleted as it goes, so the table holds at most the
// signatures of one window.
func (s *Store) ClaimReplay(ctx context.Context, sig, deliveryID string, expires time.Time) (string, error) {
	sum := sha256.Sum256([]byte(sig))
	key := hex.EncodeToString(sum[:])
	now := encTime(s.nowUTC())
	claimed := deliveryID
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_replay WHERE expires <= ?`, now); err != nil {
			return err
		}
		var have string
		err := tx.QueryRowContext(ctx, `SELECT delivery_id FROM webhook_replay WHERE key = ?`, key).Scan(&have)
		switch {
		case err == nil:
			claimed = have
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO webhook_replay (key, delivery_id, expires) VALUES (?, ?, ?)`,
			key, head(deliveryID, MaxAuditShort), encTime(expires.UTC()))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("webhook replay window: %w", err)
	}
	return claimed, nil
}
