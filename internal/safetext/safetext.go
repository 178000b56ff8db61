// Package safetext makes text that came from a PostgreSQL server safe to
// put on a terminal. Query text, application names, identifiers and error
// messages are data chosen by whoever connects to the server: an escape
// sequence in them could move the cursor, recolour the screen, retitle the
// window or write to the clipboard. Nothing from the server reaches the
// terminal without passing through here.
package safetext

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Line renders s on a single line: runs of white space (newlines and tabs
// included) become one space, and every other control character, escape
// sequence introducer and bidirectional override is shown as a visible
// escape such as \x1b or \u202e. Invalid UTF-8, and every character
// terminals draw at widths of their own choosing (see Placeholder),
// becomes U+FFFD.
func Line(s string) string {
	if isPlainLine(s) {
		return s
	}
	return settle(line(s))
}

func line(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r == ' ' || r == '\n' || r == '\t' || r == '\r' || r == '\v' || r == '\f' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		writeRune(&b, r, size)
	}
	return b.String()
}

// Text renders s keeping its line breaks, for multi-line display: tabs
// become spaces, "\r\n" becomes "\n", and every other control character is
// escaped as in Line.
func Text(s string) string { return settle(text(s)) }

func text(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '\n':
			b.WriteByte('\n')
		case r == '\r' && i < len(s) && s[i] == '\n':
		case r == '\t':
			b.WriteString("    ")
		default:
			writeRune(&b, r, size)
		}
	}
	return b.String()
}

// isPlainLine is the fast path: printable ASCII only.
func isPlainLine(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

func writeRune(b *strings.Builder, r rune, size int) {
	switch {
	case r == utf8.RuneError && size == 1:
		b.WriteRune(utf8.RuneError)
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		// C0, DEL and C1 controls: ESC and CSI start escape sequences.
		fmt.Fprintf(b, `\x%02x`, r)
	case isBidiControl(r) || (unicode.Is(unicode.Cf, r) && r != 0x200d):
		// Bidirectional overrides reorder what is shown ("Trojan
		// source"); other format characters are invisible. The zero
		// width joiner stays for settle to judge with the cluster it
		// joins.
		fmt.Fprintf(b, `\u%04x`, r)
	default:
		b.WriteRune(r)
	}
}

func isBidiControl(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f || r == 0x061c
}

// JSON rewrites encoded JSON so that it is safe on a terminal too:
// encoding/json already escapes C0 controls, but leaves C1 controls (8-bit
// CSI is U+009B) and bidirectional overrides as they are. Outside strings
// JSON is ASCII, so every such rune is inside a string, where a \uXXXX
// escape means exactly the same.
func JSON(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r >= 0x80 && (r < 0xa0 || isBidiControl(r) || (unicode.Is(unicode.Cf, r) && r != 0x200d)) {
			if out == nil {
				out = append(make([]byte, 0, len(b)+16), b[:i]...)
			}
			out = fmt.Appendf(out, `\u%04x`, r)
		} else if out != nil {
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	if out == nil {
		return b
	}
	return out
}

// EncodeJSON is how pgmedic writes JSON anywhere, to a terminal or to a
// file: the same bytes whether it is `snapshot --json` on stdout or a line
// of the audit log that someone will cat or grep later. v is encoded as
// one value ending in a newline, on one line when indent is empty; HTML
// characters stay as they are (nobody embeds this in a page, and \u003c
// only hides SQL's < from grep), and JSON escapes the rest.
func EncodeJSON(v any, indent string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if indent != "" {
		enc.SetIndent("", indent)
	}
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return JSON(buf.Bytes()), nil
}

// Copy prepares text for a clipboard: exactly the text, untruncated, with
// every control character and bidi override removed (not escaped: pasted
// into a shell or a chat, an escape would be noise). Newlines and tabs
// stay.
func Copy(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == '\r', r == utf8.RuneError && size == 1:
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		case isBidiControl(r) || (unicode.Is(unicode.Cf, r) && r != 0x200d):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
