// Package redact takes the literals out of query text, for screen-shares:
// a bridge call is no place for customer emails. It walks the text the way
// PostgreSQL's scanner does, which also copes with queries that
// pg_stat_activity cut at track_activity_query_size.
//
// Not PostgreSQL's own parser (libpg_query built to WebAssembly): its
// runtime makes the binary and every run's memory far larger, and more so
// with many backends, which an incident tool on a bastion host cannot
// spend. The scanner below, tested on real queries, is the redactor.
package redact

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/pgmedic/pgmedic/inspect"
)

// Redactor normalizes query texts, remembering the last cacheSize: an
// application repeats the same few statements.
type Redactor struct {
	mu    sync.Mutex
	cache map[string]string
}

const cacheSize = 20000

// New returns a Redactor.
func New() *Redactor { return &Redactor{cache: make(map[string]string)} }

// Query returns q with every literal replaced by a placeholder and IN
// lists collapsed.
func (r *Redactor) Query(q string) string {
	if q == "" || q == "<insufficient privilege>" {
		return q
	}
	r.mu.Lock()
	out, ok := r.cache[q]
	r.mu.Unlock()
	if ok {
		return out
	}
	out = collapseIn(Lex(q))
	r.mu.Lock()
	if len(r.cache) >= cacheSize {
		clear(r.cache)
	}
	r.cache[q] = out
	r.mu.Unlock()
	return out
}

// Snapshot redacts every query text and index definition (a partial
// index's predicate can hold a literal) in place.
func (r *Redactor) Snapshot(s *inspect.Snapshot) {
	for i := range s.Backends {
		s.Backends[i].Query = r.Query(s.Backends[i].Query)
	}
	for i := range s.Indexes {
		if def := s.Indexes[i].Definition; strings.Contains(def, " WHERE ") {
			s.Indexes[i].Definition = Lex(def)
		}
	}
}

// Plan redacts a plan in place: the statement, every node's condition
// (a filter holds the statement's literals), the lines of a text plan,
// and a refusal, which can quote the server's error about a literal.
func (r *Redactor) Plan(p *inspect.Plan) {
	p.Query = r.Query(p.Query)
	p.Refusal = Lex(p.Refusal)
	for i := range p.Text {
		p.Text[i] = Lex(p.Text[i])
	}
	var walk func(n *inspect.PlanNode)
	walk = func(n *inspect.PlanNode) {
		n.Condition = Lex(n.Condition)
		for _, c := range n.Children {
			walk(c)
		}
	}
	if p.Root != nil {
		walk(p.Root)
	}
}

var inList = regexp.MustCompile(`(?i)\bIN \(\s*\$\d+(\s*,\s*\$\d+)+\s*\)`)

func collapseIn(q string) string { return inList.ReplaceAllString(q, "IN (...)") }

// Lex replaces literals by walking the text the way PostgreSQL's scanner
// does: quoted strings (doubled quotes inside, backslash escapes in E
// strings, the B, X, N and U& prefixes), dollar-quoted bodies and numbers
// (decimal, exponent, 0x/0o/0b) become $n; quoted identifiers, $n
// parameters and comments are kept. An unterminated literal (cut-off text)
// is replaced to the end.
func Lex(q string) string {
	next := maxParam(q)
	placeholder := func() string { next++; return "$" + strconv.Itoa(next) }
	var b strings.Builder
	rs := []rune(q)
	for i := 0; i < len(rs); {
		c := rs[i]
		switch {
		case c == '-' && i+1 < len(rs) && rs[i+1] == '-': // comment to end of line
			j := i
			for j < len(rs) && rs[j] != '\n' {
				j++
			}
			b.WriteString(string(rs[i:j]))
			i = j
		case c == '/' && i+1 < len(rs) && rs[i+1] == '*': // block comment, nested
			j, depth := i+2, 1
			for j < len(rs) && depth > 0 {
				switch {
				case rs[j] == '/' && j+1 < len(rs) && rs[j+1] == '*':
					depth++
					j++
				case rs[j] == '*' && j+1 < len(rs) && rs[j+1] == '/':
					depth--
					j++
				}
				j++
			}
			b.WriteString(string(rs[i:j]))
			i = j
		case c == '"': // quoted identifier: kept
			j := i + 1
			for j < len(rs) && !(rs[j] == '"' && (j+1 >= len(rs) || rs[j+1] != '"')) {
				if rs[j] == '"' {
					j++
				}
				j++
			}
			b.WriteString(string(rs[i:min(j+1, len(rs))]))
			i = j + 1
		case stringStart(rs, i) > 0:
			open := stringStart(rs, i)
			escapes := c == 'E' || c == 'e'
			j := i + open
			for j < len(rs) {
				if escapes && rs[j] == '\\' {
					j += 2
					continue
				}
				if rs[j] == '\'' {
					if j+1 < len(rs) && rs[j+1] == '\'' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			b.WriteString(placeholder())
			i = j + 1
		case c == '$' && !identChar(prev(rs, i)):
			if tag, ok := dollarTag(rs, i); ok {
				end := indexRunes(rs, i+len(tag), tag)
				b.WriteString(placeholder())
				if end < 0 {
					i = len(rs)
				} else {
					i = end + len(tag)
				}
				continue
			}
			j := i + 1 // $n parameter: kept
			for j < len(rs) && unicode.IsDigit(rs[j]) {
				j++
			}
			b.WriteString(string(rs[i:j]))
			i = j
		case numberStart(rs, i):
			b.WriteString(placeholder())
			i = numberEnd(rs, i)
		default:
			b.WriteRune(c)
			i++
		}
	}
	return b.String()
}

// stringStart returns the length of the string literal opening at i,
// prefix and quote included ('…', E'…', B'…', X'…', N'…', U&'…'), or 0.
func stringStart(rs []rune, i int) int {
	at := func(k int, want ...rune) bool { return i+k < len(rs) && slices.Contains(want, rs[i+k]) }
	switch {
	case at(0, '\''): // even right after a word: SELECT'x' is valid SQL
		return 1
	case identChar(prev(rs, i)): // a prefix letter must start a token
		return 0
	case at(0, 'E', 'e', 'B', 'b', 'X', 'x', 'N', 'n') && at(1, '\''):
		return 2
	case at(0, 'U', 'u') && at(1, '&') && at(2, '\''):
		return 3
	}
	return 0
}

// numberStart reports whether a numeric literal starts at i: a digit, or
// a point before a digit, not inside an identifier.
func numberStart(rs []rune, i int) bool {
	if p := prev(rs, i); identChar(p) || p == '.' {
		return false
	}
	return unicode.IsDigit(rs[i]) || rs[i] == '.' && i+1 < len(rs) && unicode.IsDigit(rs[i+1])
}

// numberEnd finds the end of the number starting at i: decimal with an
// optional exponent, or 0x/0o/0b (PostgreSQL 16), with _ separators.
func numberEnd(rs []rune, i int) int {
	j := i
	if rs[i] == '0' && i+2 < len(rs) && strings.ContainsRune("xXoObB", rs[i+1]) && isHex(rs[i+2]) {
		for j = i + 2; j < len(rs) && (isHex(rs[j]) || rs[j] == '_'); j++ {
		}
		return j
	}
	for j < len(rs) && (unicode.IsDigit(rs[j]) || rs[j] == '.' || rs[j] == '_' ||
		((rs[j] == 'e' || rs[j] == 'E') && j+1 < len(rs) && (unicode.IsDigit(rs[j+1]) || rs[j+1] == '-' || rs[j+1] == '+')) ||
		((rs[j] == '-' || rs[j] == '+') && (rs[j-1] == 'e' || rs[j-1] == 'E'))) {
		j++
	}
	return j
}

func isHex(r rune) bool {
	return r < 128 && (unicode.IsDigit(r) || strings.ContainsRune("abcdefABCDEF", r))
}

func identChar(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || r == '$' }

func prev(rs []rune, i int) rune {
	if i == 0 {
		return ' '
	}
	return rs[i-1]
}

// dollarTag reads a $tag$ opening at i.
func dollarTag(rs []rune, i int) ([]rune, bool) {
	j := i + 1
	for j < len(rs) && (rs[j] == '_' || unicode.IsLetter(rs[j]) || (j > i+1 && unicode.IsDigit(rs[j]))) {
		j++
	}
	if j < len(rs) && rs[j] == '$' {
		return rs[i : j+1], true
	}
	return nil, false
}

func indexRunes(rs []rune, from int, tag []rune) int {
	for k := from; k+len(tag) <= len(rs); k++ {
		if string(rs[k:k+len(tag)]) == string(tag) {
			return k
		}
	}
	return -1
}

var paramRE = regexp.MustCompile(`\$(\d+)`)

// maxParam is the highest $n already in q, so placeholders do not
// collide with a prepared statement's own parameters.
func maxParam(q string) int {
	n := 0
	for _, m := range paramRE.FindAllStringSubmatch(q, -1) {
		if v, err := strconv.Atoi(m[1]); err == nil && v > n {
			n = v
		}
	}
	return n
}
