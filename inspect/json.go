package inspect

import "encoding/json"

// MarshalJSON writes the documented `pgmedic snapshot --json` contract.
func (s *Snapshot) MarshalJSON() ([]byte, error) { return json.Marshal(jsonSnapshot(s)) }

// plainSnapshot has Snapshot's fields without its MarshalJSON method, so
// the view can embed it without recursing.
type plainSnapshot Snapshot

// jsonView is the JSON contract: the snapshot's own fields, with the lock
// forest nested (roots at the top) and durations in seconds. Fields at
// this level shadow the embedded snapshot's fields of the same name.
type jsonView struct {
	*plainSnapshot
	Saturation jsonSaturation `json:"saturation"`
	Backends   []Backend      `json:"connections"`
	LockForest []jsonNode     `json:"lock_forest"`
	Indexes    []Index        `json:"indexes"`
	Builds     []IndexBuild   `json:"builds"`
	Prepared   []PreparedXact `json:"prepared_xacts"`
	Databases  []string       `json:"databases_checked"`
	Warnings   []string       `json:"warnings"`
}

type jsonSaturation struct {
	Saturation
	OldestXactSeconds      float64 `json:"oldest_xact_seconds"`
	LongestIdleInTxSeconds float64 `json:"longest_idle_in_transaction_seconds"`
}

type jsonNode struct {
	PID          int    `json:"pid"`
	PreparedGID  string `json:"prepared_gid,omitempty"`
	Gone         bool   `json:"gone,omitempty"`
	BlockedTotal int    `json:"blocked_total"`
	// Queued: this session's parent does not hold a conflicting lock, it
	// is only queued ahead of it for the same lock.
	Queued             bool       `json:"queued_behind_parent"`
	WaitSeconds        float64    `json:"wait_seconds"`
	LongestWaitSeconds float64    `json:"longest_wait_seconds"`
	OtherBlockers      []int      `json:"other_blockers"`
	BlockersTotal      int        `json:"blockers_total"`
	Cycle              bool       `json:"cycle"`
	Children           []jsonNode `json:"children"`
}

func jsonSnapshot(s *Snapshot) *jsonView {
	v := &jsonView{
		plainSnapshot: (*plainSnapshot)(s),
		Saturation:    jsonSaturation{Saturation: s.Saturation},
		Backends:      make([]Backend, len(s.Backends)),
		LockForest:    make([]jsonNode, 0, len(s.LockForest.Roots)),
		Indexes:       nonNil(s.Indexes),
		Builds:        nonNil(s.Builds),
		Prepared:      nonNil(s.Prepared),
		Databases:     nonNil(s.Databases),
		Warnings:      nonNil(s.Warnings),
	}
	v.Saturation.OldestXactSeconds = s.Saturation.OldestXact.Seconds()
	v.Saturation.LongestIdleInTxSeconds = s.Saturation.LongestIdleInTx.Seconds()
	v.Saturation.ByApplication = nonNil(v.Saturation.ByApplication)
	v.Saturation.ByUser = nonNil(v.Saturation.ByUser)
	v.Saturation.ByDatabase = nonNil(v.Saturation.ByDatabase)
	v.Saturation.ByClient = nonNil(v.Saturation.ByClient)
	for i, b := range s.Backends {
		b.BlockedBy = nonNil(b.BlockedBy)
		b.QueuedBehind = nonNil(b.QueuedBehind)
		v.Backends[i] = b
	}
	for _, r := range s.LockForest.Roots {
		v.LockForest = append(v.LockForest, nodeJSON(&s.LockForest, r))
	}
	return v
}

func nodeJSON(f *LockForest, i int) jsonNode {
	n := &f.Nodes[i]
	out := jsonNode{
		PID:                n.PID,
		PreparedGID:        n.PreparedGID,
		Gone:               n.Gone,
		BlockedTotal:       n.BlockedTotal,
		Queued:             n.Queued,
		WaitSeconds:        n.Wait.Seconds(),
		LongestWaitSeconds: n.LongestWait.Seconds(),
		OtherBlockers:      nonNil(n.OtherBlockers),
		BlockersTotal:      n.BlockersTotal,
		Cycle:              n.Cycle,
		Children:           make([]jsonNode, 0, len(n.Children)),
	}
	for _, c := range n.Children {
		out.Children = append(out.Children, nodeJSON(f, c))
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
