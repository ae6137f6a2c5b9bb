package release

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations is the schema history. migrations[i] takes a database from
// user_version i to i+1. Append only: never edit a step that has shipped,
// because databases in the field already ran it. Each step runs in the same
// transaction as the user_version bump, so a crash leaves either the old or
// the new schema, never half of one.
var migrations = []string{
	// 1: releases, events, audit.
	`
CREATE TABLE releases (
	-- AUTOINCREMENT: a deploy id handed to a caller is never reused, even
	-- if old rows are pruned one day.
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	service      TEXT    NOT NULL CHECK (service <> ''),
	version      TEXT    NOT NULL CHECK (version <> ''),
	kind         TEXT    NOT NULL,
	strategy     TEXT    NOT NULL DEFAULT '',
	state        TEXT    NOT NULL,
	source_kind  TEXT    NOT NULL DEFAULT '',
	source_actor TEXT    NOT NULL DEFAULT '',
	webhook_kind TEXT    NOT NULL DEFAULT '',
	delivery_id  TEXT    NOT NULL DEFAULT '',
	note         TEXT    NOT NULL DEFAULT '',
	git_commit   TEXT    NOT NULL DEFAULT '',
	author       TEXT    NOT NULL DEFAULT '',
	image_ref    TEXT    NOT NULL DEFAULT '',
	image_digest TEXT    NOT NULL DEFAULT '',
	runtime      TEXT    NOT NULL DEFAULT '',
	instance_id  TEXT    NOT NULL DEFAULT '',
	addr         TEXT    NOT NULL DEFAULT '',
	previous_id  INTEGER REFERENCES releases(id),
	error        TEXT    NOT NULL DEFAULT '',
	analysis     TEXT    NOT NULL DEFAULT '',
	hook_output  TEXT    NOT NULL DEFAULT '',
	-- times: UTC unix nanoseconds, 0 = unset
	created_at   INTEGER NOT NULL,
	started_at   INTEGER NOT NULL DEFAULT 0,
	finished_at  INTEGER NOT NULL DEFAULT 0,
	live_at      INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX releases_by_service ON releases (service, id);
CREATE INDEX releases_by_state ON releases (state, id);
CREATE INDEX releases_by_live_at ON releases (service, live_at) WHERE live_at <> 0;
-- The invariant the proxy relies on: one live release per service.
CREATE UNIQUE INDEX releases_one_live ON releases (service) WHERE state = 'live';
-- Webhook idempotency: one release per delivery.
CREATE UNIQUE INDEX releases_delivery ON releases (service, webhook_kind, delivery_id) WHERE delivery_id <> '';

CREATE TABLE events (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	release_id INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
	at         INTEGER NOT NULL,
	step       TEXT    NOT NULL CHECK (step <> ''),
	message    TEXT    NOT NULL DEFAULT '',
	duration   INTEGER NOT NULL DEFAULT 0,
	level      TEXT    NOT NULL
) STRICT;
CREATE INDEX events_by_release ON events (release_id, id);
CREATE TRIGGER events_append_only BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

CREATE TABLE audit (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	at      INTEGER NOT NULL,
	actor   TEXT    NOT NULL DEFAULT '',
	source  TEXT    NOT NULL DEFAULT '',
	action  TEXT    NOT NULL CHECK (action <> ''),
	service TEXT    NOT NULL DEFAULT '',
	version TEXT    NOT NULL DEFAULT '',
	outcome TEXT    NOT NULL,
	detail  TEXT    NOT NULL DEFAULT '',
	remote  TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX audit_by_service ON audit (service, id);
CREATE TRIGGER audit_append_only BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
`,
	// 2: the instance-defining configuration an instance was started with,
	// so a restart re-adopts it against that, not against an edited file.
	`ALTER TABLE releases ADD COLUMN spec TEXT NOT NULL DEFAULT '';`,
	// 3: the generic webhook's replay window, so it survives a restart.
	`
CREATE TABLE webhook_replay (
	-- a hash of the request's canonical signature, never the signature
	key         TEXT    PRIMARY KEY,
	delivery_id TEXT    NOT NULL,
	expires     INTEGER NOT NULL -- UTC unix nanoseconds
) STRICT, WITHOUT ROWID;
CREATE INDEX webhook_replay_by_expiry ON webhook_replay (expires);
`,
}

// migrate brings the database to user_version len(migrations). A database
// with a higher version was written by a newer hotswap and is refused
// rather than misread. It runs on the write pool,
// whose transactions begin IMMEDIATE, so two processes opening the same
// file at once cannot both apply a step.
func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin migration: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit

	var have int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this hotswap understands (%d): upgrade hotswap", have, len(migrations))
	}
	if have == len(migrations) {
		return nil
	}
	for v := have; v < len(migrations); v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("migrate schema %d -> %d: %w", v, v+1, err)
		}
	}
	// PRAGMA takes no bind parameters; the value is our own integer.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
		return fmt.Errorf("set schema version %d: %w", len(migrations), err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit migration: %w", err)
	}
	return nil
}
