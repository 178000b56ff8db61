package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/pgcluster/pgtest"
)

// hangBound only keeps a broken test from hanging the suite: a command
// that honours its --timeout ends long before it.
const hangBound = 60 * time.Second

// freezeOnConnect stops each backend openConn opens with SIGSTOP (tests
// run as root, the server as another user): a server that accepted
// pgmedic, then stopped answering. Its statement_timeout cannot fire.
func freezeOnConnect(t *testing.T) {
	t.Helper()
	var mu sync.Mutex
	var frozen []int
	connected = func(conn *pgx.Conn) {
		pid := int(conn.PgConn().PID())
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Errorf("cannot stop backend %d: %v", pid, err)
			return
		}
		mu.Lock()
		frozen = append(frozen, pid)
		mu.Unlock()
	}
	t.Cleanup(func() {
		connected = nil
		mu.Lock()
		defer mu.Unlock()
		for _, pid := range frozen {
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	})
}

// runBounded runs a command line and fails the test if it outlives
// hangBound.
func runBounded(t *testing.T, args []string) (error, string) {
	t.Helper()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(context.Background(), args, &out, &out) }()
	select {
	case err := <-done:
		return err, out.String()
	case <-time.After(hangBound):
		t.Fatalf("pgmedic %s still running after %s", strings.Join(args, " "), hangBound)
	}
	return nil, ""
}

func checkTimedOut(t *testing.T, err error, waitedFor string) {
	t.Helper()
	if err == nil {
		t.Fatal("the command succeeded against a server that stopped answering")
	}
	msg := err.Error()
	if !strings.Contains(msg, "timed out after 2s waiting for "+waitedFor) {
		t.Errorf("error = %q, want it to say it timed out waiting for %s", msg, waitedFor)
	}
	if strings.Contains(msg, "statement_timeout") {
		t.Errorf("error = %q blames statement_timeout, which never fired", msg)
	}
}

// With its backend stopped right after connecting, a snapshot and a
// terminate each give up at their --timeout, saying what they waited
// for.
func TestTimeoutOnAStoppedBackend(t *testing.T) {
	c := pgtest.Start(t, pgcluster.Options{})
	conn := []string{"-h", c.SocketDir, "-p", strconv.Itoa(c.Port), "-U", "postgres", "--timeout", "2s"}

	freezeOnConnect(t)
	err, _ := runBounded(t, append([]string{"snapshot"}, conn...))
	checkTimedOut(t, err, "the server to answer the snapshot's statements (it accepted the connection, then stopped answering)")

	err, out := runBounded(t, append([]string{"terminate", "99999", "--yes", "--no-audit"}, conn...))
	checkTimedOut(t, err, "the server to answer the statements that plan the terminate")
	if t.Failed() {
		t.Log(out)
	}
}

// stallingProxy forwards TCP to the cluster, and stops passing the
// server's bytes on after its third ReadyForQuery on each connection:
// the login's, the pooler check's and the session settings', so the
// snapshot's own reads go unanswered, as through a network that stalls.
func stallingProxy(t *testing.T, port int) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range open {
			c.Close()
		}
	})
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
			if err != nil {
				client.Close()
				continue
			}
			mu.Lock()
			open = append(open, client, server)
			mu.Unlock()
			go io.Copy(server, client)
			go forwardUntilSecondReady(client, server)
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// forwardUntilSecondReady copies the server's messages (a type byte, then
// a length that counts itself) until the second 'Z', then keeps reading
// and drops everything.
func forwardUntilSecondReady(client, server net.Conn) {
	ready := 0
	head := make([]byte, 5)
	for {
		if _, err := io.ReadFull(server, head); err != nil {
			return
		}
		body := make([]byte, int(binary.BigEndian.Uint32(head[1:]))-4)
		if _, err := io.ReadFull(server, body); err != nil {
			return
		}
		if ready >= 3 {
			continue
		}
		if _, err := client.Write(append(head, body...)); err != nil {
			return
		}
		if head[0] == 'Z' {
			ready++
		}
	}
}

// Through a network that stalls after the login, the snapshot gives up
// at its --timeout and says the server stopped answering its statements.
func TestTimeoutThroughAStallingNetwork(t *testing.T) {
	c := pgtest.Start(t, pgcluster.Options{})
	port := stallingProxy(t, c.Port)
	dsn := fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable password='%s'", port,
		strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(c.Password))
	err, _ := runBounded(t, []string{"snapshot", "-d", dsn, "--timeout", "2s"})
	checkTimedOut(t, err, "the server to answer the snapshot's statements (it accepted the connection, then stopped answering)")
}
