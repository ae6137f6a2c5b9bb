package release

import (
	"context"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Authorization: Bearer abc.def-ghi_123", "Authorization: Bearer [redacted]"},
		{`bad token "bearer s3cr3t", retry`, `bad token "bearer [redacted]", retry`},
		{"X-Hub-Signature-256: sha256=0a1b2c3d mismatch", "X-Hub-Signature-256: sha256=[redacted] mismatch"},
		{"sig SHA1=deadbeef and sha512=cafe", "sig SHA1=[redacted] and sha512=[redacted]"},
		{"image sha256:0a1b2c stays", "image sha256:0a1b2c stays"},
		{"nothing secret here", "nothing secret here"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAudit(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	entries := []Audit{
		{Actor: "alice", Source: SourceCLI, Action: "deploy", Service: "web", Version: "v1", Outcome: OutcomeOK, Remote: "unix"},
		{Source: SourceWebhook, Action: "webhook", Service: "api", Outcome: OutcomeRejected,
			Detail: "signature sha256=abcdef0123 did not match; header Bearer tok123", Remote: "127.0.0.1:5555"},
		{Actor: "ci", Source: SourceAPI, Action: "rollback", Service: "web", Outcome: OutcomeError, Detail: strings.Repeat("x", 2*MaxText)},
	}
	for _, a := range entries {
		if err := s.AppendAudit(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.ListAudit(ctx, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].Action != "rollback" || all[2].Action != "deploy" {
		t.Fatalf("ListAudit not newest first: %+v", all)
	}
	if d := all[1].Detail; strings.Contains(d, "abcdef0123") || strings.Contains(d, "tok123") {
		t.Errorf("secret stored in detail: %q", d)
	}
	if len(all[0].Detail) > MaxText {
		t.Errorf("detail not bounded: %d bytes", len(all[0].Detail))
	}
	if all[2].At.IsZero() || all[2].Remote != "unix" || all[2].Actor != "alice" || all[2].Source != SourceCLI {
		t.Errorf("fields lost: %+v", all[2])
	}
	web, err := s.ListAudit(ctx, 1, "web")
	if err != nil || len(web) != 1 || web[0].Action != "rollback" {
		t.Errorf("ListAudit(1, web) = %+v, %v", web, err)
	}
	for _, bad := range []Audit{{Outcome: OutcomeOK}, {Action: "deploy", Outcome: "maybe"}} {
		if err := s.AppendAudit(ctx, bad); err == nil {
			t.Errorf("AppendAudit(%+v) accepted", bad)
		}
	}
	if _, err := s.write.ExecContext(ctx, `UPDATE audit SET actor = 'mallory'`); err == nil {
		t.Error("database allowed rewriting the audit log")
	}
}
