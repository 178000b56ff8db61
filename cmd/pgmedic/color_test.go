package main

import (
	"testing"

	"github.com/charmbracelet/colorprofile"
)

func TestColorProfile(t *testing.T) {
	for _, c := range []struct {
		mode string
		env  []string
		want *colorprofile.Profile
	}{
		{"auto", nil, nil},
		{"auto", []string{"NO_COLOR=1"}, ptr(colorprofile.Ascii)},
		{"auto", []string{"NO_COLOR=yes"}, ptr(colorprofile.Ascii)}, // any non-empty value, per no-color.org
		{"auto", []string{"NO_COLOR="}, nil},
		{"never", nil, ptr(colorprofile.Ascii)},
		{"always", []string{"NO_COLOR=1"}, ptr(colorprofile.ANSI256)},
	} {
		got, err := colorProfile(c.mode, c.env)
		if err != nil || (got == nil) != (c.want == nil) || (got != nil && *got != *c.want) {
			t.Errorf("colorProfile(%q, %q) = %v, %v; want %v", c.mode, c.env, got, err, c.want)
		}
	}
	if _, err := colorProfile("sometimes", nil); err == nil {
		t.Error("an unknown --color must be a usage error")
	}
}

func ptr(p colorprofile.Profile) *colorprofile.Profile { return &p }
