package tui

// list is a cursor over rows identified by keys. The selection follows the
// key, not the position: after a refresh or a re-sort the cursor stays on
// the same pid or index.
type list struct {
	keys     []string
	cursor   int
	offset   int
	height   int
	selected string
}

// setKeys replaces the rows, keeping the selected key when it is still
// there, else the same position.
func (l *list) setKeys(keys []string) {
	l.keys = keys
	if l.selected != "" {
		for i, k := range keys {
			if k == l.selected {
				l.cursor = i
				l.scroll()
				return
			}
		}
	}
	l.clamp()
}

func (l *list) clamp() {
	l.cursor = max(0, min(l.cursor, len(l.keys)-1))
	if len(l.keys) > 0 {
		l.selected = l.keys[l.cursor]
	} else {
		l.selected = ""
	}
	l.scroll()
}

func (l *list) move(delta int) {
	l.cursor += delta
	l.clamp()
}

func (l *list) top()    { l.cursor = 0; l.clamp() }
func (l *list) bottom() { l.cursor = len(l.keys) - 1; l.clamp() }

func (l *list) page(dir int) { l.move(dir * max(1, l.height-1)) }

func (l *list) setHeight(h int) {
	l.height = max(1, h)
	l.scroll()
}

// scroll keeps the cursor inside the visible window.
func (l *list) scroll() {
	if l.cursor < l.offset {
		l.offset = l.cursor
	}
	if l.cursor >= l.offset+l.height {
		l.offset = l.cursor - l.height + 1
	}
	l.offset = max(0, min(l.offset, len(l.keys)-l.height))
}

// window is the range of rows to draw.
func (l *list) window() (start, end int) {
	return l.offset, min(len(l.keys), l.offset+l.height)
}

func (l *list) selectKey(k string) {
	l.selected = k
	l.setKeys(l.keys)
}
