package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/human"
)

// PoolerLines is the PgBouncer in words: a heading line, then a line a
// pool; nil without a pooler. esc makes the pooler's text safe for where
// it goes.
func PoolerLines(p *inspect.Pooler, esc func(string) string) []string {
	if p == nil {
		return nil
	}
	head := "PgBouncer"
	if p.Version != "" {
		head = esc(p.Version)
	}
	head += " at " + esc(p.Target)
	waiting := 0
	for i := range p.Pools {
		waiting += p.Pools[i].ClientsWaiting
	}
	head += fmt.Sprintf(": %d pools, %d clients (%d waiting), %d server connections",
		len(p.Pools), len(p.Clients), waiting, len(p.Servers))
	if p.Error != "" {
		head += "; NOT READ NOW: " + esc(p.Error)
		if !p.ReadAt.IsZero() {
			head += " (the rest is as read at " + p.ReadAt.Format(time.TimeOnly) + ")"
		}
	}
	out := []string{head}
	for i := range p.Pools {
		out = append(out, PoolLine(&p.Pools[i], esc))
	}
	return out
}

// PoolLine is one pool: its clients, its server connections against its
// size, and what holds them.
func PoolLine(pool *inspect.Pool, esc func(string) string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "pool %s (%s): clients %d active, %d waiting", PoolName(pool, esc), esc(pool.Mode),
		pool.ClientsActive, pool.ClientsWaiting)
	if pool.ClientsWaiting > 0 {
		fmt.Fprintf(&b, " up to %s", waitText(pool.MaxWaitSeconds))
	}
	fmt.Fprintf(&b, "; servers %d active, %d idle, %d used of %d", pool.ServersActive, pool.ServersIdle, pool.ServersUsed, pool.PoolSize)
	if pool.ReservePool > 0 {
		fmt.Fprintf(&b, " (+%d reserve)", pool.ReservePool)
	}
	if pool.ServersWaitingOnLock > 0 {
		fmt.Fprintf(&b, "; %d wait on a lock%s", pool.ServersWaitingOnLock, behindText(pool.Behind))
	}
	if pool.Paused {
		b.WriteString("; PAUSED (RESUME ends it)")
	}
	if pool.Disabled {
		b.WriteString("; DISABLED (ENABLE ends it)")
	}
	return b.String()
}

// PoolName is database/user.
func PoolName(pool *inspect.Pool, esc func(string) string) string {
	return esc(pool.Database) + "/" + esc(pool.User)
}

// PoolFinding is a pool in trouble in one sentence, the way Triage and
// the summary say it: "312 clients wait up to 14s for pool shop/app; all
// 20 server connections busy, 18 of them behind pid 4101". "" when the
// pool is fine.
func PoolFinding(pool *inspect.Pool, esc func(string) string) string {
	var parts []string
	if pool.ClientsWaiting > 0 {
		clients := "clients wait"
		if pool.ClientsWaiting == 1 {
			clients = "client waits"
		}
		parts = append(parts, fmt.Sprintf("%d %s up to %s for pool %s", pool.ClientsWaiting, clients,
			waitText(pool.MaxWaitSeconds), PoolName(pool, esc)))
	}
	busy := ""
	switch {
	case pool.Full():
		busy = fmt.Sprintf("all %d server connections busy", pool.ServersActive)
	case pool.ServersWaitingOnLock > 0:
		busy = fmt.Sprintf("%d of %d server connections busy", pool.ServersActive, pool.Capacity())
	}
	if busy != "" {
		if len(parts) == 0 {
			busy = "pool " + PoolName(pool, esc) + ": " + busy
		}
		if len(pool.Behind) > 0 {
			top := pool.Behind[0]
			busy += fmt.Sprintf(", %d of them behind pid %d", top.Servers, top.PID)
			if rest := pool.ServersWaitingOnLock - top.Servers; rest > 0 {
				busy += fmt.Sprintf(" (%d more waiting on other locks)", rest)
			}
		} else if pool.ServersWaitingOnLock > 0 {
			busy += fmt.Sprintf(", %d of them waiting on a lock", pool.ServersWaitingOnLock)
		}
		parts = append(parts, busy)
	}
	if pool.Paused {
		parts = append(parts, "pool "+PoolName(pool, esc)+" is PAUSED")
	}
	return strings.Join(parts, "; ")
}

func behindText(behind []inspect.PoolBlocker) string {
	if len(behind) == 0 {
		return ""
	}
	var parts []string
	for _, b := range behind {
		parts = append(parts, fmt.Sprintf("%d behind pid %d", b.Servers, b.PID))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// waitText is a pooler wait: to the tenth of a second under ten seconds.
func waitText(s float64) string {
	if s < 10 {
		return fmt.Sprintf("%.1fs", s)
	}
	return human.Duration(time.Duration(s * float64(time.Second)))
}

// pooler is the text report's section.
func (r *textReport) pooler() {
	lines := PoolerLines(r.s.Pooler, clean)
	if len(lines) == 0 {
		return
	}
	r.printf("\nPGBOUNCER: %s\n", lines[0])
	for _, l := range lines[1:] {
		r.printf("  %s\n", l)
	}
}

// poolerMarkdown is the summary's section.
func poolerMarkdown(b *strings.Builder, p *inspect.Pooler) {
	lines := PoolerLines(p, md)
	if len(lines) == 0 {
		return
	}
	b.WriteString("**PgBouncer**\n")
	for _, l := range lines {
		b.WriteString("- " + l + "\n")
	}
	b.WriteString("\n")
}
