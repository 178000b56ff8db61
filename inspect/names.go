package inspect

import "strings"

// QuoteIdent renders an identifier the way it must be typed in SQL: bare
// when it is a plain lower-case name, otherwise in double quotes with
// embedded quotes doubled. It is for display; statements pgmedic runs
// quote every identifier through pgx.Identifier.
func QuoteIdent(name string) string {
	if isBareIdent(name) {
		return name
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

func isBareIdent(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r == '_':
		case (r >= '0' && r <= '9') || r == '$':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}
