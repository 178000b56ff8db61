package tui

import (
	"time"

	"github.com/pgmedic/pgmedic/actions"
)

// stage is where the one action pgmedic may have stands.
type stage int

const (
	idle       stage = iota // nothing asked, nothing running
	confirming              // a plan's dialog is open; nothing runs yet
	running                 // an action runs
	stopAsked               // running, and "cancel it?" is open over it
	quitAsked               // running, and "quit anyway?" is open over it
	cancelling              // running, its context cancelled; its result is awaited
	quitting                // cancelling, and pgmedic quits when the result comes or the wait runs out
)

// lifecycle is the action state. Dialogs and the footer draw from it
// alone: whatever they name is held here for as long as they show it,
// so an action ending under an open dialog leaves nothing dangling.
type lifecycle struct {
	stage    stage
	plan     actions.Plan // asked about (confirming) or running (the stages after)
	started  time.Time
	progress string
	why      string // quitting on a signal: which
}

// busy reports whether an action runs, whatever is open over it.
func (l *lifecycle) busy() bool { return l.stage >= running }

// asking reports whether a question is open: keys answer it.
func (l *lifecycle) asking() bool {
	return l.stage == confirming || l.stage == stopAsked || l.stage == quitAsked
}

type eventKind int

const (
	evOpen      eventKind = iota // an action key planned something
	evYes                        // y in a dialog
	evNo                         // any other key in a dialog
	evStop                       // esc while an action runs
	evQuit                       // q
	evInterrupt                  // ctrl+c: q, except that a second one confirms
	evShutdown                   // a signal or a lost terminal: quit without asking
	evProgress                   // the running action said what it does
	evDone                       // the running action returned
	evGiveUp                     // the wait for a cancelled action ran out
)

type event struct {
	kind   eventKind
	plan   actions.Plan   // evOpen
	text   string         // evProgress; evShutdown: why
	at     time.Time      // evYes: when the action starts
	result actions.Result // evDone
}

// effect is what the model must do after a step; several may be set.
type effect uint16

const (
	doStart   effect = 1 << iota // run l.plan
	doAudit                      // run the refused l.plan, for its audit record only
	doCancel                     // cancel the running action's context
	doWait                       // start the bounded wait for its result
	doRecord                     // log the result that came
	doAbandon                    // log that pgmedic left without a result
	doNotRun                     // say the plan was not run
	doQuit                       // quit now
)

// step is the whole lifecycle: the next state and what to do about it.
// Events that mean nothing in a stage leave it as it is.
func step(l lifecycle, ev event) (lifecycle, effect) {
	switch ev.kind {
	case evProgress:
		if l.busy() {
			l.progress = ev.text
		}
		return l, 0
	case evDone:
		// Whatever was open over the action asked about it; the question
		// is moot now and the result is what to read.
		if l.stage == quitting {
			return lifecycle{}, doRecord | doQuit
		}
		return lifecycle{}, doRecord
	case evShutdown:
		// Nobody is there to answer a question: an SSH session dropped,
		// or the system is stopping pgmedic. Quit as y to "quit anyway".
		if !l.busy() {
			return lifecycle{}, doQuit
		}
		if l.stage == quitting {
			return l, 0
		}
		do := doWait
		if l.stage != cancelling {
			do |= doCancel
		}
		l.stage, l.why = quitting, ev.text
		return l, do
	}

	switch l.stage {
	case idle:
		switch ev.kind {
		case evOpen:
			l = lifecycle{stage: confirming, plan: ev.plan}
			if !ev.plan.Allowed() {
				// A refusal is a decision worth auditing too; the
				// executor records it without touching the server.
				return l, doAudit
			}
			return l, 0
		case evQuit, evInterrupt:
			return l, doQuit
		}
	case confirming:
		switch ev.kind {
		case evYes:
			if !l.plan.Allowed() {
				return lifecycle{}, 0
			}
			return lifecycle{stage: running, plan: l.plan, started: ev.at}, doStart
		case evNo:
			if !l.plan.Allowed() {
				return lifecycle{}, 0
			}
			return lifecycle{}, doNotRun
		case evInterrupt:
			return lifecycle{}, doQuit // nothing runs yet
		}
	case running:
		switch ev.kind {
		case evStop:
			l.stage = stopAsked
		case evQuit, evInterrupt:
			l.stage = quitAsked
		}
	case stopAsked:
		switch ev.kind {
		case evYes:
			l.stage = cancelling
			return l, doCancel
		case evNo:
			l.stage = running
		case evInterrupt:
			l.stage = quitAsked
		}
	case quitAsked:
		switch ev.kind {
		case evYes, evInterrupt:
			// Not quit yet: the result, and the audit record the executor
			// writes with it, come only when the action returns.
			l.stage = quitting
			return l, doCancel | doWait
		case evNo:
			l.stage = running
		}
	case cancelling:
		// Already cancelled: quitting has nothing left to warn about.
		if ev.kind == evQuit || ev.kind == evInterrupt {
			l.stage = quitting
			return l, doWait
		}
	case quitting:
		if ev.kind == evGiveUp {
			return lifecycle{}, doAbandon | doQuit
		}
	}
	return l, 0
}
