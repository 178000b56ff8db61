package report

import (
	"strings"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/inspect"
)

// An action run writes a started record and a final one: the summary
// lists each run once, by its final record, and a run with no final
// record (pgmedic killed while it ran) as such.
func TestMarkdownListsEachRunOnce(t *testing.T) {
	at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	log := []actions.Record{
		{ID: "a", Time: at, Action: actions.Terminate, Outcome: "started"},
		{ID: "a", Time: at, Action: actions.Terminate, Outcome: "done", Message: "backend 4101 terminated"},
		{ID: "b", Time: at, Action: actions.Rebuild, Outcome: "started"},
		{ID: "c", Time: at, Action: actions.Cancel, Outcome: "refused", Message: "it is idle"},
	}
	var b strings.Builder
	if err := Markdown(&b, &inspect.Snapshot{ServerTime: at, TakenAt: at}, log); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{"DONE terminate: backend 4101 terminated", "STARTED rebuild-index: no final record", "REFUSED cancel: it is idle"} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
	if n := strings.Count(md, " terminate: "); n != 1 {
		t.Errorf("the terminate is listed %d times:\n%s", n, md)
	}
}
