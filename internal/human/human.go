// Package human formats numbers the way a responder says them.
package human

import (
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Duration renders an age the way responders say it: "45s", "5m12s",
// "2h03m", "3d04h".
//
// It is called for every age on screen on every refresh, so it builds the
// string directly rather than through fmt.
func Duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	var buf [24]byte
	b := buf[:0]
	unit := func(n int64, suffix byte, pad bool) {
		if pad && n < 10 {
			b = append(b, '0')
		}
		b = strconv.AppendInt(b, n, 10)
		b = append(b, suffix)
	}
	switch s := int64(d / time.Second); {
	case d < time.Second:
		b = strconv.AppendInt(b, d.Milliseconds(), 10)
		b = append(b, "ms"...)
	case d < time.Minute:
		unit(s, 's', false)
	case d < time.Hour:
		unit(s/60, 'm', false)
		unit(s%60, 's', true)
	case d < 24*time.Hour:
		unit(s/3600, 'h', false)
		unit(s/60%60, 'm', true)
	default:
		unit(s/86400, 'd', false)
		unit(s/3600%24, 'h', true)
	}
	return string(b)
}

// Bytes renders a size in binary units, as pg_size_pretty does.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTP"[exp])
}

// Truncate shortens s to at most width runes, ending in "…" when cut.
func Truncate(s string, width int) string {
	if width <= 0 || utf8.RuneCountInString(s) <= width {
		return s
	}
	n := 0
	for i := range s {
		if n == width-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}
