//go:build !linux

package beat

import "time"

// sysTimer does not exist here: the Go timer does the job.
type sysTimer struct{}

func newSysTimer(fire, failed func()) *sysTimer { return nil }

func (*sysTimer) set(time.Duration) {}
func (*sysTimer) close() error      { return nil }
