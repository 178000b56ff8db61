package actions_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/inspect"
)

func TestIdentity(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	start := time.Date(2026, 12, 2, 10, 19, 23, 123456000, cet) // 09:19:23.123456 UTC
	prepared := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		plan actions.Plan
		want string
	}{
		{actions.Plan{Kind: actions.Terminate, Backend: &actions.BackendTarget{PID: 4101, BackendStart: start}}, "4101@2026-12-02T09:19:23.123456Z"},
		{actions.Plan{Kind: actions.DropIndex, Index: &actions.IndexTarget{OID: 16390, Schema: "public", Name: "ix"}}, "oid:16390"},
		{actions.Plan{Kind: actions.RollbackPrepared, Prepared: &inspect.PreparedXact{GID: "pay-batch-17", Prepared: prepared}}, "prepared:2026-12-02T08:00:00Z"},
		{actions.Plan{Kind: actions.Terminate, Refusal: "there is no backend with pid 12"}, ""},
		// A hidden start time cannot tell a reused pid apart: no identity.
		{actions.Plan{Kind: actions.Terminate, Backend: &actions.BackendTarget{PID: 12}}, ""},
	} {
		got := c.plan.Identity()
		if got != c.want {
			t.Errorf("%s: Identity() = %q, want %q", c.plan.Kind, got, c.want)
		}
		if got != "" && !regexp.MustCompile(`^[A-Za-z0-9@:.+_-]+$`).MatchString(got) {
			t.Errorf("identity %q is not one shell-safe word", got)
		}
		if err := c.plan.CheckExpect(got); err != nil {
			t.Errorf("%s: CheckExpect(its own identity %q) = %v", c.plan.Kind, got, err)
		}
		if got != "" {
			if err := actions.CheckIdentity(got); err != nil {
				t.Errorf("CheckIdentity(%q) = %v", got, err)
			}
		}
	}
}

// pid 12 showed one session in the dry run; by the real run another
// session has that pid. The check must name both, in words.
func TestIdentityCheckExpect(t *testing.T) {
	seen := time.Date(2026, 12, 2, 9, 19, 23, 123456000, time.UTC)
	now := time.Date(2026, 12, 2, 9, 31, 2, 0, time.UTC)
	reused := actions.Plan{Kind: actions.Terminate, Backend: &actions.BackendTarget{PID: 12, BackendStart: now,
		Application: "x", User: "y"}}
	cases := []struct {
		name  string
		plan  actions.Plan
		token string
		want  []string // nil: no error
	}{
		{"no token", reused, "", nil},
		{"reused pid", reused, "12@2026-12-02T09:19:23.123456Z", []string{
			"pid 12 is now a different session (started 09:31:02 UTC, application x, user y), not the one you expected (started 09:19:23 UTC): nothing was done"}},
		{"same instant, another offset", reused, "12@2026-12-02T10:31:02+01:00", nil},
		{"reused within the same second", actions.Plan{Kind: actions.Cancel, Backend: &actions.BackendTarget{PID: 12,
			BackendStart: seen.Add(400 * time.Millisecond)}}, "12@2026-12-02T09:19:23.123456Z",
			[]string{"started 09:19:23.523456 UTC", "(started 09:19:23.123456 UTC)"}},
		{"another day", reused, "12@2026-12-01T09:19:23Z", []string{"started 2026-12-02 09:31:02 UTC", "started 2026-12-01 09:19:23 UTC"}},
		{"another pid", reused, "13@2026-12-02T09:31:02Z", []string{"--expect names pid 13, but this plan is for pid 12"}},
		{"hidden start time", actions.Plan{Kind: actions.Terminate, Backend: &actions.BackendTarget{PID: 12}},
			"12@2026-12-02T09:19:23.123456Z", []string{"cannot be told apart"}},
		{"session gone", actions.Plan{Kind: actions.Terminate, Refusal: "there is no backend with pid 12"},
			"12@2026-12-02T09:19:23.123456Z", []string{"the session you expected (--expect 12@2026-12-02T09:19:23.123456Z) is not there any more"}},
		{"index replaced", actions.Plan{Kind: actions.DropIndex, Index: &actions.IndexTarget{OID: 16400, Schema: "public", Name: "orders_code_uq"}},
			"oid:16390", []string{`index "public"."orders_code_uq" is now a different index (oid 16400), not the one you expected (oid 16390)`}},
		{"prepared again under the same gid", actions.Plan{Kind: actions.RollbackPrepared,
			Prepared: &inspect.PreparedXact{GID: "pay-batch-17", Owner: "tm", Prepared: now}},
			"prepared:2026-12-02T09:19:23.123456Z", []string{"prepared transaction 'pay-batch-17' is now a different transaction (prepared 09:31:02 UTC, owner tm), not the one you expected (prepared 09:19:23 UTC)"}},
		{"index token for a session", reused, "oid:16390", []string{"--expect oid:16390 names an index, but this is terminate"}},
		{"not an identity", reused, "12", []string{`--expect "12" is not an identity pgmedic prints`}},
		{"bad time", reused, "12@yesterday", []string{"is not an identity"}},
	}
	for _, c := range cases {
		err := c.plan.CheckExpect(c.token)
		switch {
		case c.want == nil && err != nil:
			t.Errorf("%s: CheckExpect(%q) = %v, want nil", c.name, c.token, err)
		case c.want != nil && err == nil:
			t.Errorf("%s: CheckExpect(%q) = nil, want a refusal", c.name, c.token)
		case c.want != nil:
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: %q lacks %q", c.name, err, w)
				}
			}
			if !strings.HasPrefix(c.want[0], "--expect \"") && !strings.Contains(err.Error(), "nothing was done") &&
				!strings.Contains(err.Error(), "not an identity") {
				t.Errorf("%s: %q does not say nothing was done", c.name, err)
			}
		}
	}
}
