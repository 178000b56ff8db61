package safetext

import (
	"strings"
	"testing"
)

func TestLine(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"plain", "SELECT 1", "SELECT 1"},
		{"newlines collapse", "SELECT *\n  FROM t\r\n\tWHERE x", "SELECT * FROM t WHERE x"},
		{"leading space trimmed", "\n  SELECT 1", "SELECT 1"},
		{"escape sequence", "x\x1b[2J\x1b]0;pwned\x07y", `x\x1b[2J\x1b]0;pwned\x07y`},
		{"c1 csi", "a\u009b31mb", `a\x9b31mb`},
		{"bidi override", "id\u202e = 1", `id\u202e = 1`},
		{"del", "a\x7fb", `a\x7fb`},
		{"unicode kept", "Größe «ключ» 名前 😀", "Größe «ключ» 名前 😀"},
		{"joined emoji replaced", "Größe 👩‍💻", "Größe \uFFFD"},
		{"invalid utf8", "a\xffb", "a\uFFFDb"},
		{"nul", "a\x00b", `a\x00b`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Line(c.in); got != c.want {
				t.Errorf("Line(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestText(t *testing.T) {
	got := Text("SELECT 1\r\n\tFROM t\x1b[31m")
	want := "SELECT 1\n    FROM t\\x1b[31m"
	if got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
}

// No output of either function may contain a byte that a terminal
// interprets as a control: that is the whole point of the package.
func FuzzNoControlBytes(f *testing.F) {
	for _, s := range []string{"\x1b[2J", "\u009b", "a\nb", "\xff\xfe", "\u202e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, out := range []string{Line(s), Text(s)} {
			for _, r := range out {
				if (r < 0x20 && r != '\n') || r == 0x7f || (r >= 0x80 && r < 0xa0) || isBidiControl(r) {
					t.Fatalf("control %U survived in %q", r, out)
				}
			}
			if strings.Contains(Line(s), "\n") {
				t.Fatalf("Line kept a newline: %q", Line(s))
			}
		}
	})
}

func TestJSON(t *testing.T) {
	in := []byte(`{"q":"a` + "\u009b" + `31m \u001b[2J ` + "\u202e" + `x","ok":"Größe 👩‍💻"}`)
	got := string(JSON(in))
	want := `{"q":"a\u009b31m \u001b[2J \u202ex","ok":"Größe 👩‍💻"}`
	if got != want {
		t.Errorf("JSON = %s, want %s", got, want)
	}
	plain := []byte(`{"a":1}`)
	if out := JSON(plain); &out[0] != &plain[0] {
		t.Error("clean JSON should be returned as is")
	}
}

func TestCopy(t *testing.T) {
	in := "SELECT 1\r\n\tFROM t /* \x1b]52;c;eA==\x07 \u202eevil */ WHERE x = 'ü'"
	want := "SELECT 1\n\tFROM t /* ]52;c;eA== evil */ WHERE x = 'ü'"
	if got := Copy(in); got != want {
		t.Errorf("Copy = %q, want %q", got, want)
	}
}

func TestEncodeJSON(t *testing.T) {
	v := map[string]string{"q": "a < b \u202e\u009b\x1b\x07"}
	line, err := EncodeJSON(v, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"q":"a < b \u202e\u009b\u001b\u0007"}` + "\n"; string(line) != want {
		t.Errorf("EncodeJSON = %q, want %q", line, want)
	}
	indented, _ := EncodeJSON(v, "  ")
	if want := "{\n  \"q\": \"a < b \\u202e\\u009b\\u001b\\u0007\"\n}\n"; string(indented) != want {
		t.Errorf("EncodeJSON indented = %q, want %q", indented, want)
	}
}
