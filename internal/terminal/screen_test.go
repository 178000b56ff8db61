package terminal

import (
	"bytes"
	"strings"
	"testing"

	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
)

// writes records every write the screen makes.
type writes struct{ all []string }

func (w *writes) Write(p []byte) (int, error) {
	w.all = append(w.all, string(p))
	return len(p), nil
}

func (w *writes) last() string { return w.all[len(w.all)-1] }

func opened(t *testing.T, profile colorprofile.Profile, width, height int) (*Screen, *writes) {
	t.Helper()
	w := &writes{}
	s := New(w, profile)
	if err := s.Open(width, height); err != nil {
		t.Fatal(err)
	}
	return s, w
}

func row(y int, text string) string {
	return "\x1b[" + string(rune('0'+y)) + ";1H\x1b[2K" + text + "\x1b[m"
}

func TestDrawWritesOnlyChangedRows(t *testing.T) {
	s, w := opened(t, colorprofile.ANSI256, 20, 3)
	if err := s.Draw("one\ntwo\nthree", "pgmedic db"); err != nil {
		t.Fatal(err)
	}
	first := w.last()
	for _, want := range []string{ansi.SetWindowTitle("pgmedic db"), ansi.EraseEntireScreen, row(1, "one"), row(2, "two"), row(3, "three")} {
		if !strings.Contains(first, want) {
			t.Errorf("first frame %q lacks %q", first, want)
		}
	}

	n := len(w.all)
	if err := s.Draw("one\ntwo\nthree", "pgmedic db"); err != nil {
		t.Fatal(err)
	}
	if err := s.Draw(strings.Clone("one\ntwo\nthree"), "pgmedic db"); err != nil {
		t.Fatal(err)
	}
	if len(w.all) != n {
		t.Errorf("an unchanged frame was written: %q", w.all[n:])
	}

	if err := s.Draw("one\n\x1b[1mTWO\x1b[m\nthree", "pgmedic db"); err != nil {
		t.Fatal(err)
	}
	if got, want := w.last(), row(2, "\x1b[1mTWO\x1b[m"); got != want {
		t.Errorf("one changed row wrote %q, want %q", got, want)
	}
	if len(w.all) != n+1 {
		t.Errorf("%d writes for one frame, want 1", len(w.all)-n)
	}

	// A shorter frame erases the rows it no longer has; one too tall is
	// cut at the terminal's height.
	if err := s.Draw("one", "pgmedic db"); err != nil {
		t.Fatal(err)
	}
	if got, want := w.last(), row(2, "")+row(3, ""); got != want {
		t.Errorf("shorter frame wrote %q, want %q", got, want)
	}
	if err := s.Draw("a\nb\nc\nd\ne", "pgmedic db"); err != nil {
		t.Fatal(err)
	}
	if got := w.last(); strings.Contains(got, "d") || strings.Contains(got, "\x1b[4;") {
		t.Errorf("rows below the terminal were written: %q", got)
	}
}

func TestResizeRedrawsWhole(t *testing.T) {
	s, w := opened(t, colorprofile.ANSI256, 20, 2)
	_ = s.Draw("a\nb", "t")
	s.Resize(20, 2) // the same size: nothing to do
	n := len(w.all)
	_ = s.Draw("a\nb", "t")
	if len(w.all) != n {
		t.Errorf("resize to the same size redrew: %q", w.all[n:])
	}
	s.Resize(30, 3)
	_ = s.Draw("a\nb", "t")
	got := w.last()
	for _, want := range []string{ansi.EraseEntireScreen, row(1, "a"), row(2, "b"), row(3, "")} {
		if !strings.Contains(got, want) {
			t.Errorf("frame after a resize %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "\x1b]2;") {
		t.Errorf("an unchanged title was written again: %q", got)
	}
}

func TestOpenAndCloseLeaveTheTerminalAsFound(t *testing.T) {
	s, w := opened(t, colorprofile.ANSI256, 20, 2)
	_ = s.Draw("x", "pgmedic db")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	open, closed := w.all[0], w.last()
	// Every mode Open sets, Close resets; the title is cleared.
	for _, pair := range [][2]string{
		{ansi.SetModeAltScreenSaveCursor, ansi.ResetModeAltScreenSaveCursor},
		{ansi.HideCursor, ansi.ShowCursor},
		{ansi.ResetModeAutoWrap, ansi.SetModeAutoWrap},
		{ansi.SetModeBracketedPaste, ansi.ResetModeBracketedPaste},
		{ansi.SetModifyOtherKeys2, ansi.ResetModifyOtherKeys},
		{ansi.PushKittyKeyboard(1), ansi.PopKittyKeyboard(1)},
	} {
		if !strings.Contains(open, pair[0]) || !strings.Contains(closed, pair[1]) {
			t.Errorf("open %q / close %q: want %q set and %q reset", open, closed, pair[0], pair[1])
		}
	}
	if !strings.Contains(closed, ansi.SetWindowTitle("")) {
		t.Errorf("close %q leaves the window title", closed)
	}
	if !strings.HasSuffix(closed, ansi.ResetModeAltScreenSaveCursor) {
		t.Errorf("close %q: the main screen should come back last", closed)
	}
	n := len(w.all)
	_ = s.Draw("y", "t")
	_ = s.Close()
	if len(w.all) != n {
		t.Errorf("a closed screen wrote %q", w.all[n:])
	}
}

func TestColourBelowSixteenColoursIsRemoved(t *testing.T) {
	styled := "\x1b[1;31mBLOCKED\x1b[m \x1b[7mrow\x1b[m"
	for _, tc := range []struct {
		profile colorprofile.Profile
		want    string
	}{
		{colorprofile.TrueColor, styled},
		{colorprofile.ANSI256, styled},
		{colorprofile.ANSI, styled},
	} {
		s, w := opened(t, tc.profile, 40, 1)
		_ = s.Draw(styled, "")
		if !strings.Contains(w.last(), tc.want) {
			t.Errorf("%v: wrote %q, want the row as it is", tc.profile, w.last())
		}
	}
	s, w := opened(t, colorprofile.ASCII, 40, 1)
	_ = s.Draw(styled, "")
	got := w.last()
	if strings.Contains(got, "31") || !strings.Contains(got, "BLOCKED") || !strings.Contains(got, "\x1b[1m") || !strings.Contains(got, "\x1b[7m") {
		t.Errorf("ASCII: wrote %q, want bold and reverse without the red", got)
	}
	if ansi.Strip(got) != "BLOCKED row" {
		t.Errorf("ASCII: text %q changed", ansi.Strip(got))
	}
}

func TestWriteGoesOutAtOnce(t *testing.T) {
	s, w := opened(t, colorprofile.ANSI256, 20, 1)
	seq := ansi.SetSystemClipboard("SELECT 1")
	if _, err := s.WriteString(seq); err != nil {
		t.Fatal(err)
	}
	if w.last() != seq {
		t.Errorf("wrote %q, want %q", w.last(), seq)
	}
	if _, err := s.Write([]byte("x")); err != nil || w.last() != "x" {
		t.Errorf("Write: %q, %v", w.last(), err)
	}
}

// A frame at 200x60 where every row changed (each age on screen ticks):
// what drawing costs on a refresh.
func BenchmarkDraw(b *testing.B) {
	var frames [2]string
	for i := range frames {
		var f strings.Builder
		for y := range 60 {
			f.WriteString("\x1b[1m" + strings.Repeat("x", 150) + "\x1b[m ")
			f.WriteString(strings.Repeat(string(rune('0'+(y+i)%10)), 40))
			f.WriteByte('\n')
		}
		frames[i] = f.String()
	}
	s := New(&bytes.Buffer{}, colorprofile.ANSI256)
	_ = s.Open(200, 60)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.out.(*bytes.Buffer).Reset()
		_ = s.Draw(frames[i%2], "pgmedic")
	}
}
