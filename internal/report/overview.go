package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/human"
)

// Overview writes one line per server: its role, slot use, root blockers
// with the sessions waiting and the longest wait, invalid indexes, the
// replication lag and its pooler's queue; or why it could not be read.
func Overview(w io.Writer, lines []inspect.ServerLine) error {
	name := len("SERVER")
	for _, l := range lines {
		name = max(name, len([]rune(clean(l.Name))))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-*s  %-7s  %-12s  %-7s  %-7s  %-8s  %7s  %9s  %s\n", name, "SERVER", "ROLE", "SLOTS", "ROOTS", "WAITING",
		"LONGEST", "INVALID", "LAG", "PGBOUNCER Q")
	for _, l := range lines {
		fmt.Fprintf(&b, "%-*s  ", name, clean(l.Name))
		switch {
		case l.NeedsPassword:
			b.WriteString("PASSWORD " + clean(l.Error) + "\n")
			continue
		case l.Error != "":
			b.WriteString("DOWN     " + clean(l.Error) + "\n")
			continue
		}
		role := "primary"
		if l.InRecovery {
			role = "standby"
		}
		lag := "-"
		switch {
		case l.LagBytes != nil:
			lag = human.Bytes(*l.LagBytes)
		case l.LagSeconds != nil:
			lag = human.Duration(time.Duration(*l.LagSeconds * float64(time.Second)))
		}
		pgb := "-"
		if l.PoolerWaiting != nil {
			pgb = fmt.Sprint(*l.PoolerWaiting)
		}
		fmt.Fprintf(&b, "%-7s  %-12s  %-7d  %-7d  %-8s  %7d  %9s  %s\n", role, fmt.Sprintf("%.0f%% %d/%d", l.Percent, l.Used, l.Usable),
			l.RootBlockers, l.Waiting, human.Duration(time.Duration(l.LongestWait*float64(time.Second))), l.Invalid, lag, pgb)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
