package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
)

// emptyEnv makes the harness's own binary run emptyTUI instead.
const emptyEnv = "LOADHARNESS_EMPTY_TUI"

// emptyTUI is a Bubble Tea program with its own renderer that draws one
// full screen and then does nothing: what any Bubble Tea v2 program costs
// while idle, and why pgmedic draws through internal/terminal instead.
type emptyTUI struct{ w, h int }

func (m emptyTUI) Init() tea.Cmd { return nil }

func (m emptyTUI) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.w, m.h = msg.Width, msg.Height
	case tea.KeyPressMsg:
		if msg.String() == "q" {
			return m, tea.Quit
		}
	}
	return m, nil
}

func (m emptyTUI) View() tea.View {
	line := strings.Repeat("x", max(m.w-1, 0))
	v := tea.NewView(strings.TrimSuffix(strings.Repeat(line+"\n", m.h), "\n"))
	v.AltScreen = true
	return v
}

func runEmptyTUI() error {
	fps, _ := strconv.Atoi(os.Getenv(emptyEnv))
	_, err := tea.NewProgram(emptyTUI{}, tea.WithFPS(fps)).Run()
	return err
}

// Floor measures emptyTUI in the same terminal for the same window.
func Floor(ctx context.Context, cfg Config) (cpu time.Duration, window time.Duration, peakRSS int64, err error) {
	self, err := os.Executable()
	if err != nil {
		return 0, 0, 0, err
	}
	fps := cfg.FPS
	if fps <= 0 {
		fps = 60 // Bubble Tea's default
	}
	term, err := startTerminal(cfg.Width, cfg.Height, []string{"env", fmt.Sprintf("%s=%d", emptyEnv, fps), self})
	if err != nil {
		return 0, 0, 0, err
	}
	defer term.close()
	pid, err := term.pid()
	if err != nil {
		return 0, 0, 0, err
	}
	if err := sleep(ctx, cfg.Warmup); err != nil {
		return 0, 0, 0, err
	}
	cpu0, err := cpuTime(pid)
	if err != nil {
		return 0, 0, 0, err
	}
	t0 := time.Now()
	if err := sleep(ctx, cfg.Duration); err != nil {
		return 0, 0, 0, err
	}
	cpu1, err := cpuTime(pid)
	if err != nil {
		return 0, 0, 0, err
	}
	peakRSS, _, err = memory(pid)
	return cpu1 - cpu0, time.Since(t0), peakRSS, err
}
