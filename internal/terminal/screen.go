// Package terminal puts pgmedic's full-screen frames on the terminal, and
// writes only when a frame changed: nothing runs between frames.
//
// Bubble Tea's own renderer wakes the program FPS times a second for its
// whole life to look for a new frame, and re-parses every frame into cells
// to diff it: an idle pgmedic would never be idle. A frame here is the
// text pgmedic's View already builds; rows that differ
// from what is on the terminal are rewritten whole, in one write, and the
// terminal is left exactly as it was found.
package terminal

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
)

// Screen is a terminal in the alternate screen. It is not safe for
// concurrent use: one goroutine (Bubble Tea's event loop) draws.
type Screen struct {
	out     io.Writer
	profile colorprofile.Profile
	colors  colorprofile.Writer // downsamples a row into buf, below 16 colours

	buf           bytes.Buffer
	rows          []string // what the terminal shows, row by row
	frame         string   // the frame rows was cut from
	title         string
	width, height int
	open          bool
}

// New returns a screen writing to out. Rows are written as they are for
// profiles of 16 colours and up: pgmedic's styles use only the 16 base
// colours, which every such terminal has (and maps to its own palette).
// Below that (NO_COLOR, --color never, a dumb terminal) colours are
// removed and bold, reverse and underline stay.
func New(out io.Writer, profile colorprofile.Profile) *Screen {
	s := &Screen{out: out, profile: profile}
	s.colors = colorprofile.Writer{Forward: &s.buf, Profile: profile}
	return s
}

// The terminal modes a session sets, and how Close undoes them. Keyboard
// disambiguation (modifyOtherKeys and the kitty protocol, flag 1) is what
// Bubble Tea's renderer asks for, so keys parse the same: Esc alone is a
// key at once, and Ctrl+letters are told apart from Tab and Enter.
var (
	enter = ansi.SetModeAltScreenSaveCursor + ansi.HideCursor + ansi.EraseEntireScreen +
		ansi.ResetModeAutoWrap + // a row too wide is cut, never wrapped into the next
		ansi.SetModeBracketedPaste + ansi.SetModifyOtherKeys2 + ansi.PushKittyKeyboard(1)
	leave = ansi.ResetStyle + ansi.ResetModifyOtherKeys + ansi.PopKittyKeyboard(1) +
		ansi.ResetModeBracketedPaste + ansi.SetModeAutoWrap + ansi.ShowCursor +
		ansi.ResetModeAltScreenSaveCursor
)

// Open switches to the alternate screen and sets the session's modes.
func (s *Screen) Open(width, height int) error {
	s.width, s.height = width, height
	s.rows, s.frame = nil, ""
	s.open = true
	_, err := io.WriteString(s.out, enter)
	return err
}

// Close leaves the alternate screen and undoes every mode Open set, the
// window title too. The shell gets its screen and cursor back.
func (s *Screen) Close() error {
	if !s.open {
		return nil
	}
	s.open = false
	seq := leave
	if s.title != "" {
		seq = ansi.SetWindowTitle("") + seq
	}
	_, err := io.WriteString(s.out, seq)
	return err
}

// Resize tells the screen the terminal's new size. The terminal may have
// reflowed or cleared what was on it, so the next frame is drawn whole.
func (s *Screen) Resize(width, height int) {
	if width == s.width && height == s.height && s.rows != nil {
		return
	}
	s.width, s.height = width, height
	s.rows, s.frame = nil, ""
}

// WriteString sends a control sequence (a clipboard copy, a query) to the
// terminal now, in order with the frames.
func (s *Screen) WriteString(seq string) (int, error) {
	return io.WriteString(s.out, seq)
}

// Write is WriteString for bytes. It touches nothing but the terminal, so
// another goroutine may call it while one draws.
func (s *Screen) Write(p []byte) (int, error) {
	return s.out.Write(p)
}

// Draw makes the terminal show frame (rows separated by "\n", none wider
// than the terminal) and title. Rows equal to what is shown are not
// written; the rest go out in a single write. The same frame twice costs
// a string comparison.
func (s *Screen) Draw(frame, title string) error {
	if !s.open || (frame == s.frame && title == s.title && s.rows != nil) {
		return nil
	}
	s.buf.Reset()
	if title != s.title {
		s.buf.WriteString(ansi.SetWindowTitle(title))
		s.title = title
	}
	whole := s.rows == nil
	if whole {
		s.buf.WriteString(ansi.ResetStyle + ansi.EraseEntireScreen)
		s.rows = make([]string, s.height)
	}
	rest := frame
	for y := 0; y < s.height; y++ {
		var row string
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			row, rest = rest[:i], rest[i+1:]
		} else {
			row, rest = rest, ""
		}
		row = strings.TrimSuffix(row, "\r")
		if row == s.rows[y] && !whole {
			continue
		}
		s.rows[y] = row
		// Move, erase the row, write it, and end with the style reset so
		// the next row is erased in the terminal's own colours.
		s.buf.WriteString("\x1b[")
		s.buf.WriteString(strconv.Itoa(y + 1))
		s.buf.WriteString(";1H" + ansi.EraseEntireLine)
		if s.profile >= colorprofile.ANSI {
			s.buf.WriteString(row)
		} else {
			_, _ = s.colors.Write([]byte(row))
		}
		s.buf.WriteString(ansi.ResetStyle)
	}
	s.frame = frame
	if s.buf.Len() == 0 {
		return nil
	}
	if _, err := s.out.Write(s.buf.Bytes()); err != nil {
		return fmt.Errorf("writing to the terminal: %w", err)
	}
	return nil
}
