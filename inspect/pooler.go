package inspect

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Pooler is what a PgBouncer's admin console shows: its pools, the
// clients queued in them and the server connections they share. During an
// exhaustion PostgreSQL may look calm (a few busy backends, the rest
// idle) while hundreds of clients wait here, where the 503s come from.
type Pooler struct {
	// Target is user@host:port of the admin console, for headings.
	Target  string    `json:"target"`
	Version string    `json:"version"`
	ReadAt  time.Time `json:"read_at"`
	// Pools are the pooler's pools, the admin console's own left out.
	Pools   []Pool     `json:"pools"`
	Clients []PoolConn `json:"clients"`
	Servers []PoolConn `json:"servers"`
	// Error says why the pooler could not be read this time; the rest is
	// then what was read last, or empty.
	Error string `json:"error,omitempty"`
}

// Pool is one database/user pool.
type Pool struct {
	Database string `json:"database"`
	User     string `json:"user"`
	Mode     string `json:"pool_mode"`
	// ClientsActive are clients linked to a server connection or idle
	// between transactions; ClientsWaiting have sent a query and wait for
	// a server connection: the queue.
	ClientsActive  int `json:"cl_active"`
	ClientsWaiting int `json:"cl_waiting"`
	// MaxWaitSeconds is how long the oldest waiting client has waited.
	MaxWaitSeconds float64 `json:"maxwait_seconds"`
	ServersActive  int     `json:"sv_active"`
	ServersIdle    int     `json:"sv_idle"`
	ServersUsed    int     `json:"sv_used"`
	ServersTested  int     `json:"sv_tested"`
	ServersLogin   int     `json:"sv_login"`
	// PoolSize and ReservePool are the database's, from SHOW DATABASES:
	// the pool holds at most PoolSize+ReservePool server connections.
	PoolSize    int  `json:"pool_size"`
	ReservePool int  `json:"reserve_pool"`
	Paused      bool `json:"paused"`
	Disabled    bool `json:"disabled"`

	// Mapped to PostgreSQL (MapPooler), when the pooler fronts the server
	// pgmedic watches: how many of the pool's active server connections
	// wait on a lock, and behind which root blockers.
	ServersWaitingOnLock int           `json:"sv_waiting_on_lock"`
	Behind               []PoolBlocker `json:"behind,omitempty"`
}

// Capacity is how many server connections the pool can have.
func (p *Pool) Capacity() int { return p.PoolSize + p.ReservePool }

// Busy is how many of its server connections are in use or on the way.
func (p *Pool) Busy() int { return p.ServersActive + p.ServersLogin }

// Full reports whether no server connection is free for a new client:
// every one the pool may have is active.
func (p *Pool) Full() bool { return p.Capacity() > 0 && p.ServersActive >= p.Capacity() }

// PoolBlocker is a root blocker some of a pool's server connections
// wait behind.
type PoolBlocker struct {
	PID     int `json:"pid"`
	Servers int `json:"servers"`
}

// PoolConn is a client or a server connection of the pooler.
type PoolConn struct {
	User        string     `json:"user"`
	Database    string     `json:"database"`
	State       string     `json:"state"`
	Addr        string     `json:"addr"`
	Port        int        `json:"port"`
	ConnectTime *time.Time `json:"connect_time"`
	RequestTime *time.Time `json:"request_time"`
	// WaitSeconds is how long a waiting client has waited.
	WaitSeconds float64 `json:"wait_seconds"`
	// Ptr names the connection in the pooler; Link is the Ptr of the
	// connection it is paired with (a client's server, a server's client).
	Ptr         string `json:"ptr"`
	Link        string `json:"link,omitempty"`
	Application string `json:"application_name,omitempty"`
	// RemotePID is a server connection's PostgreSQL backend.
	RemotePID int `json:"remote_pid,omitempty"`
	// ServerPID is, for a client linked to a server connection, that
	// connection's backend (MapPooler).
	ServerPID int `json:"server_pid,omitempty"`
	// Backend is what that backend does, from pg_stat_activity, when the
	// pooler fronts the server pgmedic watches (MapPooler).
	Backend *PoolBackend `json:"backend,omitempty"`
}

// PoolBackend is the PostgreSQL side of a server connection.
type PoolBackend struct {
	State     string `json:"state"`
	WaitEvent string `json:"wait_event,omitempty"`
	// Root is the root blocker it waits behind, 0 when it waits on none.
	Root int `json:"root_blocker,omitempty"`
}

// Waiting reports whether a client waits for a server connection.
func (c *PoolConn) Waiting() bool { return strings.HasPrefix(c.State, "waiting") }

// poolerReadTimeout bounds one read of the admin console: it answers from
// memory, so a pooler that takes longer is itself in trouble.
const poolerReadTimeout = 3 * time.Second

// poolerCommands are read on every refresh. The admin console takes one
// command per query and only the simple protocol.
var poolerCommands = []string{"SHOW VERSION", "SHOW DATABASES", "SHOW POOLS", "SHOW CLIENTS", "SHOW SERVERS"}

// ReadPooler reads a PgBouncer admin console (a connection to its
// "pgbouncer" database). Columns are found by name, so the versions that
// added or dropped some read alike.
func ReadPooler(ctx context.Context, conn *pgx.Conn) (*Pooler, error) {
	ctx, cancel := context.WithTimeout(ctx, poolerReadTimeout)
	defer cancel()
	tables := make([][]map[string]string, len(poolerCommands))
	for i, cmd := range poolerCommands {
		res, err := conn.PgConn().Exec(ctx, cmd).ReadAll()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cmd, err)
		}
		if len(res) != 1 {
			return nil, fmt.Errorf("%s: %d results, want 1", cmd, len(res))
		}
		tables[i] = namedRows(res[0])
	}
	p := ParsePooler(tables[0], tables[1], tables[2], tables[3], tables[4])
	p.ReadAt = time.Now()
	return p, nil
}

func namedRows(r *pgconn.Result) []map[string]string {
	out := make([]map[string]string, len(r.Rows))
	for i, row := range r.Rows {
		m := make(map[string]string, len(row))
		for j, f := range r.FieldDescriptions {
			if j < len(row) {
				m[f.Name] = string(row[j])
			}
		}
		out[i] = m
	}
	return out
}

// adminDatabase is the admin console's own pseudo-database.
const adminDatabase = "pgbouncer"

// ParsePooler turns the admin console's rows (column name to text) into
// a Pooler. The admin console's own pool and clients are left out.
func ParsePooler(version, databases, pools, clients, servers []map[string]string) *Pooler {
	p := &Pooler{}
	if len(version) > 0 {
		p.Version = version[0]["version"]
	}
	type dbConf struct {
		size, reserve    int
		paused, disabled bool
	}
	conf := map[string]dbConf{}
	for _, d := range databases {
		conf[d["name"]] = dbConf{size: atoi(d["pool_size"]), reserve: atoi(d["reserve_pool"]),
			paused: atoi(d["paused"]) != 0, disabled: atoi(d["disabled"]) != 0}
	}
	for _, r := range pools {
		if r["database"] == adminDatabase {
			continue
		}
		c := conf[r["database"]]
		pool := Pool{Database: r["database"], User: r["user"], Mode: r["pool_mode"],
			ClientsActive: atoi(r["cl_active"]), ClientsWaiting: atoi(r["cl_waiting"]),
			MaxWaitSeconds: float64(atoi(r["maxwait"])) + float64(atoi(r["maxwait_us"]))/1e6,
			ServersActive:  atoi(r["sv_active"]), ServersIdle: atoi(r["sv_idle"]), ServersUsed: atoi(r["sv_used"]),
			ServersTested: atoi(r["sv_tested"]), ServersLogin: atoi(r["sv_login"]),
			PoolSize: c.size, ReservePool: c.reserve, Paused: c.paused, Disabled: c.disabled}
		p.Pools = append(p.Pools, pool)
	}
	p.Clients = parsePoolConns(clients)
	p.Servers = parsePoolConns(servers)
	return p
}

func parsePoolConns(rows []map[string]string) []PoolConn {
	var out []PoolConn
	for _, r := range rows {
		if r["database"] == adminDatabase {
			continue
		}
		out = append(out, PoolConn{User: r["user"], Database: r["database"], State: r["state"],
			Addr: r["addr"], Port: atoi(r["port"]), ConnectTime: poolerTime(r["connect_time"]),
			RequestTime: poolerTime(r["request_time"]),
			WaitSeconds: float64(atoi(r["wait"])) + float64(atoi(r["wait_us"]))/1e6,
			Ptr:         r["ptr"], Link: r["link"], Application: r["application_name"], RemotePID: atoi(r["remote_pid"])})
	}
	return out
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// poolerTime reads the admin console's "2006-01-02 15:04:05 UTC".
func poolerTime(s string) *time.Time {
	t, err := time.Parse("2006-01-02 15:04:05 MST", s)
	if err != nil {
		return nil
	}
	return &t
}

// MapPooler ties the pooler's server connections to the snapshot's
// backends and counts, per pool, the server connections waiting on a
// lock and the root blockers they wait behind. A pid is taken for the
// same backend only when its user and database agree: a pooler in front
// of another server, whose pids mean nothing here, maps nothing.
func MapPooler(p *Pooler, s *Snapshot) {
	if p == nil || s == nil {
		return
	}
	node := make(map[int]int, len(s.LockForest.Nodes))
	for i := range s.LockForest.Nodes {
		node[s.LockForest.Nodes[i].PID] = i
	}
	root := func(pid int) int {
		i, ok := node[pid]
		if !ok {
			return 0
		}
		for steps := 0; s.LockForest.Nodes[i].Parent >= 0 && steps < len(s.LockForest.Nodes); steps++ {
			i = s.LockForest.Nodes[i].Parent
		}
		if s.LockForest.Nodes[i].PID == pid {
			return 0 // a root itself
		}
		return s.LockForest.Nodes[i].PID
	}
	type key struct{ db, user string }
	behind := map[key]map[int]int{}
	waiting := map[key]int{}
	for i := range p.Servers {
		sv := &p.Servers[i]
		sv.Backend = nil
		if sv.RemotePID == 0 {
			continue
		}
		b := s.Backend(sv.RemotePID)
		if b == nil || b.User != sv.User {
			continue
		}
		pb := &PoolBackend{State: b.State}
		if b.WaitEventType != "" {
			pb.WaitEvent = b.WaitEventType + ":" + b.WaitEvent
		}
		if b.WaitsOnLock() {
			pb.Root = root(b.PID)
		}
		sv.Backend = pb
		k := key{sv.Database, sv.User}
		if b.WaitsOnLock() && sv.State == "active" {
			waiting[k]++
			if pb.Root != 0 {
				if behind[k] == nil {
					behind[k] = map[int]int{}
				}
				behind[k][pb.Root]++
			}
		}
	}
	// A client and its server connection name each other (link, ptr).
	byPtr := make(map[string]*PoolConn, len(p.Servers))
	for i := range p.Servers {
		byPtr[p.Servers[i].Ptr] = &p.Servers[i]
	}
	for i := range p.Clients {
		cl := &p.Clients[i]
		cl.ServerPID, cl.Backend = 0, nil
		if sv := byPtr[cl.Link]; cl.Link != "" && sv != nil {
			cl.ServerPID, cl.Backend = sv.RemotePID, sv.Backend
		}
	}
	for i := range p.Pools {
		pool := &p.Pools[i]
		k := key{pool.Database, pool.User}
		pool.ServersWaitingOnLock = waiting[k]
		pool.Behind = nil
		for pid, n := range behind[k] {
			pool.Behind = append(pool.Behind, PoolBlocker{PID: pid, Servers: n})
		}
		slices.SortFunc(pool.Behind, func(a, b PoolBlocker) int {
			return cmp.Or(cmp.Compare(b.Servers, a.Servers), cmp.Compare(a.PID, b.PID))
		})
	}
}

// Tightest is the pool closest to full, the one an early warning is
// about: the most server connections in use for its capacity, waiting
// clients first. nil without pools.
func (p *Pooler) Tightest() *Pool {
	var best *Pool
	score := func(x *Pool) float64 {
		if x.Capacity() == 0 {
			return 0
		}
		return float64(x.ClientsWaiting) + float64(x.ServersActive)/float64(x.Capacity())
	}
	for i := range p.Pools {
		if best == nil || score(&p.Pools[i]) > score(best) {
			best = &p.Pools[i]
		}
	}
	return best
}
