package watch

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/connect"
)

// Server is one server of the list pgmedic can switch to: a name and how
// to reach it.
type Server struct {
	Name string
	// Conn is a connection string or URI; a service's is "service=NAME".
	Conn string
}

// Fleet is the servers of one pgmedic process: one Source each, opened
// when first asked for and then kept, so that a server looked at once
// keeps its slot (an exhausted server may refuse a new connection), and
// closed together at exit. One connection per server, with the same
// timeouts as any Source.
type Fleet struct {
	allDatabases bool
	// Prepare, when set, is called with each source the fleet makes
	// (--redact sets its Redact).
	Prepare func(*Source)

	mu      sync.Mutex
	servers []Server
	sources map[string]*Source
	cfgs    map[string]*pgx.ConnConfig
}

// NewFleet lists servers, each name once (the first wins).
func NewFleet(servers []Server, allDatabases bool) *Fleet {
	f := &Fleet{allDatabases: allDatabases, sources: map[string]*Source{}, cfgs: map[string]*pgx.ConnConfig{}}
	for _, s := range servers {
		f.add(s)
	}
	return f
}

func (f *Fleet) add(s Server) bool {
	for _, have := range f.servers {
		if have.Name == s.Name {
			return false
		}
	}
	f.servers = append(f.servers, s)
	return true
}

// Adopt puts a source already open first in the list, under name: the
// server pgmedic was started on.
func (f *Fleet) Adopt(name string, cfg *pgx.ConnConfig, src *Source) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.servers = append([]Server{{Name: name}}, f.servers...)
	for i := 1; i < len(f.servers); i++ {
		if f.servers[i].Name == name {
			f.servers = append(f.servers[:i], f.servers[i+1:]...)
			break
		}
	}
	f.sources[name], f.cfgs[name] = src, cfg
}

// Servers are the names, in order.
func (f *Fleet) Servers() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.servers))
	for i, s := range f.servers {
		out[i] = s.Name
	}
	return out
}

// Source is name's source and configuration, made (not connected) the
// first time.
func (f *Fleet) Source(name string) (*Source, *pgx.ConnConfig, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if src, ok := f.sources[name]; ok {
		return src, f.cfgs[name], nil
	}
	for _, s := range f.servers {
		if s.Name != name {
			continue
		}
		cfg, err := connect.Config(connect.Options{DBName: s.Conn})
		if err != nil {
			return nil, nil, err
		}
		src := New(cfg, f.allDatabases)
		if f.Prepare != nil {
			f.Prepare(src)
		}
		f.sources[name], f.cfgs[name] = src, cfg
		return src, cfg, nil
	}
	return nil, nil, errUnknownServer(name)
}

type errUnknownServer string

func (e errUnknownServer) Error() string { return "no server named " + string(e) + " in the list" }

// OverviewTimeout bounds one server's read in the overview: a server that
// does not answer is a line saying so, not a stalled list.
const OverviewTimeout = 10 * time.Second

// Overview reads every server but skip (the one on screen, whose
// snapshot the caller has), all at once, and gives a line each in the
// list's order.
func (f *Fleet) Overview(ctx context.Context, skip string) []inspect.ServerLine {
	names := f.Servers()
	out := make([]inspect.ServerLine, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		out[i].Name = name
		if name == skip {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			src, _, err := f.Source(name)
			if err != nil {
				out[i].Error = err.Error()
				return
			}
			out[i].Target = src.Target()
			rctx, cancel := context.WithTimeout(ctx, OverviewTimeout)
			defer cancel()
			snap, err := src.Snapshot(rctx)
			if err != nil {
				out[i].Error = err.Error()
				out[i].NeedsPassword = connect.PasswordRefused(err)
				return
			}
			out[i] = inspect.Overview(name, src.Target(), snap)
		}()
	}
	wg.Wait()
	return out
}

// Close closes every source.
func (f *Fleet) Close() {
	f.mu.Lock()
	srcs := make([]*Source, 0, len(f.sources))
	for _, s := range f.sources {
		srcs = append(srcs, s)
	}
	f.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range srcs {
		wg.Add(1)
		go func() { defer wg.Done(); s.Close() }()
	}
	wg.Wait()
}
