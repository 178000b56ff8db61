package safetext

import (
	"testing"

	"github.com/charmbracelet/x/ansi"
)

func TestLineReplacesClustersOfDisputedWidth(t *testing.T) {
	const ph = Placeholder
	cases := []struct{ name, in, want string }{
		{"family zwj", "app 👩‍👩‍👧‍👦 x", "app " + ph + " x"},
		{"two families", "👩‍👩‍👧‍👦👩‍👩‍👧‍👦", ph + ph},
		{"profession zwj", "👩‍💻", ph},
		{"emoji presentation selector", "I ❤️ pg", "I " + ph + " pg"},
		{"text presentation selector", "☺︎", ph},
		{"skin tone", "👍🏽 ok", ph + " ok"},
		{"flag", "🇩🇪 berlin", ph + " berlin"},
		{"two flags", "🇩🇪🇫🇷", ph + ph},
		{"lone regional indicator", "🇩", ph},
		{"keycap", "1️⃣", ph},
		{"tag flag", "🏴\U000e0067\U000e0062\U000e007f", `🏴\ue0067\ue0062\ue007f`},
		{"conjunct counted narrower than its letters", "क्ष", ph},
		{"stray joiner", "a\u200db", ph + "b"},
		{"cjk kept", "名前 テーブル 표", "名前 テーブル 표"},
		{"single emoji kept", "😀 x", "😀 x"},
		{"stray skin tone joins the space before it", "😀 🏻", "😀" + ph},
		{"combining accents kept", "cafe\u0301 n\u0303 a\u0308\u0301", "cafe\u0301 n\u0303 a\u0308\u0301"},
		{"precomposed kept", "Größe ñ", "Größe ñ"},
		{"escaped with the rest", "\x1b[31m👩‍💻\u202e", `\x1b[31m` + ph + `\u202e`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Line(c.in); got != c.want {
				t.Errorf("Line(%q) = %q, want %q", c.in, got, c.want)
			}
			if got := Text(c.in); got != c.want {
				t.Errorf("Text(%q) = %q, want %q", c.in, got, c.want)
			}
			checkAgreed(t, Line(c.in))
		})
	}
	if got, want := Text("👩‍💻\nok 🇩🇪\r\n"), ph+"\nok "+ph+"\n"; got != want {
		t.Errorf("Text kept lines badly: %q, want %q", got, want)
	}
}

// checkAgreed fails when s counts differently as clusters and as runes:
// a terminal that joins nothing must draw it as wide as the layout thinks.
func checkAgreed(t *testing.T, s string) {
	t.Helper()
	sum := 0
	for _, r := range s {
		sum += ansi.StringWidth(string(r))
	}
	if w := ansi.StringWidth(s); w != sum {
		t.Fatalf("%q counts %d cells as clusters, %d as runes", s, w, sum)
	}
}

func FuzzWidthAgreed(f *testing.F) {
	for _, s := range []string{"👩‍👩‍👧‍👦", "❤️", "🇩🇪", "👍🏽", "क्ष", "e\u0301", "名前", "\u200d\u200d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkAgreed(t, Line(s))
		checkAgreed(t, Text(s))
	})
}

func BenchmarkLineNonASCII(b *testing.B) {
	s := "SELECT * FROM größe WHERE name = 'ключ' AND note = '名前' -- 😀"
	for b.Loop() {
		Line(s)
	}
}
