package tui

import "strings"

// gist names what a statement does in two or three words, for a line
// that has no room for the statement: its command and the table it works
// on ("UPDATE users", "ALTER TABLE users", "CREATE INDEX ON orders"). It
// reads only the first words and the table after the keyword that names
// it; "" when the text does not start as one of these (or is hidden).
func gist(query string) string {
	query = strings.TrimLeft(query, "( \t\n")
	// A client that sends "BEGIN; UPDATE ..." in one string: the
	// statement that matters comes after the transaction's opening.
	for {
		first, rest, ok := strings.Cut(query, ";")
		w := strings.ToUpper(strings.TrimSpace(first))
		if !ok || strings.TrimSpace(rest) == "" || !(w == "BEGIN" || strings.HasPrefix(w, "BEGIN ") ||
			strings.HasPrefix(w, "START TRANSACTION") || strings.HasPrefix(w, "SET ") || strings.HasPrefix(w, "SAVEPOINT ")) {
			break
		}
		query = strings.TrimLeft(rest, "( \t\n")
	}
	words := sqlWords(query, 40)
	if len(words) == 0 || strings.HasPrefix(words[0], "<") {
		return ""
	}
	up := func(i int) string {
		if i < len(words) {
			return strings.ToUpper(words[i])
		}
		return ""
	}
	// after returns the word after the first keyword kw at or past i.
	after := func(i int, kw string) string {
		for ; i < len(words)-1; i++ {
			if strings.ToUpper(words[i]) == kw {
				return bareName(words[i+1])
			}
		}
		return ""
	}
	verb := strings.TrimRight(up(0), ";")
	var obj string
	switch verb {
	case "UPDATE":
		obj = bareName(words[min(1, len(words)-1)])
		if strings.ToUpper(obj) == "ONLY" {
			obj = after(1, "ONLY")
		}
	case "INSERT", "MERGE":
		obj = after(1, "INTO")
	case "DELETE", "SELECT", "WITH":
		obj = after(1, "FROM")
		if verb == "WITH" {
			verb = "WITH … FROM"
		}
	case "COPY", "TRUNCATE", "VACUUM", "ANALYZE", "CLUSTER":
		for i := 1; i < len(words) && obj == ""; i++ {
			if w := up(i); w != "TABLE" && w != "ONLY" && !strings.HasPrefix(w, "(") && w != "FULL" && w != "VERBOSE" && w != "FREEZE" {
				obj = bareName(words[i])
			}
		}
	case "ALTER", "DROP", "LOCK", "REINDEX", "REFRESH":
		// ALTER TABLE [IF EXISTS] [ONLY] t, LOCK [TABLE] t, REINDEX INDEX [CONCURRENTLY] i, ...
		i := 1
		for ; i < len(words); i++ {
			w := up(i)
			if w == "TABLE" || w == "INDEX" || w == "MATERIALIZED" || w == "VIEW" || w == "SCHEMA" || w == "SEQUENCE" ||
				w == "IF" || w == "EXISTS" || w == "ONLY" || w == "CONCURRENTLY" || w == "(VERBOSE)" || w == "TYPE" || w == "FUNCTION" {
				continue
			}
			break
		}
		if verb != "LOCK" {
			verb += " " + strings.Join(upper(words[1:min(i, len(words))], "IF", "EXISTS", "ONLY", "CONCURRENTLY"), " ")
		}
		if i < len(words) {
			obj = bareName(words[i])
		}
	case "CREATE":
		if after(1, "INDEX") != "" || up(1) == "UNIQUE" {
			verb, obj = "CREATE INDEX ON", after(2, "ON")
			if strings.ToUpper(obj) == "ONLY" {
				obj = after(2, "ONLY")
			}
		} else {
			return clean(strings.Join(words[:min(3, len(words))], " "))
		}
	default:
		return clean(verb)
	}
	verb = strings.TrimSpace(verb)
	if obj == "" {
		return clean(verb)
	}
	return clean(verb + " " + obj)
}

// upper is the words in capitals, without the ones listed.
func upper(words []string, skip ...string) []string {
	var out []string
	for _, w := range words {
		w = strings.ToUpper(w)
		skipped := false
		for _, s := range skip {
			skipped = skipped || w == s
		}
		if !skipped {
			out = append(out, w)
		}
	}
	return out
}

// bareName is a table name as written, without what sticks to it (a
// trailing comma, semicolon or opening parenthesis), the quotes a plain
// name does not need and the public schema: "users", as the lock column
// names it, rather than "public"."users".
func bareName(w string) string {
	if i := strings.IndexAny(w, "(;,"); i > 0 && !strings.Contains(w[:i], `"`) {
		w = w[:i]
	}
	parts := strings.Split(w, ".")
	for i, p := range parts {
		if u := strings.Trim(p, `"`); len(p) == len(u)+2 && plainIdent(u) {
			parts[i] = u
		}
	}
	if len(parts) == 2 && parts[0] == "public" {
		parts = parts[1:]
	}
	return strings.Join(parts, ".")
}

// plainIdent reports whether a name needs no quotes: lower case letters,
// digits and underscores, not starting with a digit.
func plainIdent(s string) bool {
	for i, r := range s {
		if !(r >= 'a' && r <= 'z' || r == '_' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

// sqlWords splits the first n words of a statement at white space
// outside quotes, so that a quoted name or literal with spaces stays
// whole.
func sqlWords(s string, n int) []string {
	var words []string
	start, quote := -1, rune(0)
	for i, r := range s {
		switch {
		case r == '"' || r == '\'':
			if quote == 0 {
				quote = r
			} else if quote == r {
				quote = 0
			}
			if start < 0 {
				start = i
			}
		case quote == 0 && (r == ' ' || r == '\t' || r == '\n' || r == '\r'):
			if start >= 0 {
				words = append(words, s[start:i])
				start = -1
				if len(words) == n {
					return words
				}
			}
		case start < 0:
			start = i
		}
	}
	if start >= 0 {
		words = append(words, s[start:])
	}
	return words
}

// wrapSQL breaks a statement into lines of at most w cells at the spaces
// between its words (sqlWords): a word longer than w gets a line of its
// own, which the box then cuts.
func wrapSQL(s string, w int) []string { return fill(sqlWords(s, -1), " ", w) }

// fill lays words out in lines of at most w cells, sep between the words
// of a line; a word wider than w gets a line of its own.
func fill(words []string, sep string, w int) []string {
	var lines []string
	line := ""
	for _, word := range words {
		switch {
		case line == "":
			line = word
		case ansiWidth(line)+ansiWidth(sep)+ansiWidth(word) <= w:
			line += sep + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	return append(lines, line)
}
