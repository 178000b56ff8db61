package report

import (
	"fmt"
	"strings"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/human"
)

// PlanLines draws a plan as a tree, a node a line and its condition
// under it, or the refusal; every text from the server through safetext.
func PlanLines(p *inspect.Plan) []string {
	if p.Refusal != "" {
		return []string{fmt.Sprintf("No plan for pid %d: %s.", p.PID, clean(p.Refusal))}
	}
	out := []string{fmt.Sprintf("Plan of pid %d, from %s", p.PID, clean(p.Source))}
	for _, line := range p.Text {
		out = append(out, clean(line))
	}
	if p.Root != nil {
		out = planTree(out, p.Root, "", "")
	}
	for _, n := range p.Notes {
		out = append(out, "Note: "+clean(n))
	}
	return out
}

func planTree(out []string, n *inspect.PlanNode, first, rest string) []string {
	line := first + nodeLabel(n)
	out = append(out, line)
	if n.Condition != "" {
		bar := "   "
		if len(n.Children) > 0 {
			bar = "│  "
		}
		out = append(out, rest+bar+"  "+clean(n.Condition))
	}
	for i, c := range n.Children {
		if i == len(n.Children)-1 {
			out = planTree(out, c, rest+"└─ ", rest+"   ")
		} else {
			out = planTree(out, c, rest+"├─ ", rest+"│  ")
		}
	}
	return out
}

func nodeLabel(n *inspect.PlanNode) string {
	var b strings.Builder
	b.WriteString(clean(n.NodeType))
	if n.JoinType != "" && n.JoinType != "Inner" {
		b.WriteString(" (" + clean(n.JoinType) + ")")
	}
	if n.Index != "" {
		b.WriteString(" using " + clean(n.Index))
	}
	if n.Relation != "" {
		b.WriteString(" on " + clean(n.Relation))
		if n.Alias != "" {
			b.WriteString(" " + clean(n.Alias))
		}
	}
	fmt.Fprintf(&b, "  rows≈%s  cost %.0f", estimate(n.Rows), n.TotalCost)
	if n.LargeSeqScan {
		fmt.Fprintf(&b, "  SEQUENTIAL SCAN OF A LARGE TABLE (about %s)", human.Bytes(n.TableBytes))
	}
	return b.String()
}

// estimate writes a row estimate the way one reads it: 3.2M, 45k, 12.
func estimate(rows float64) string {
	switch {
	case rows >= 1e9:
		return fmt.Sprintf("%.1fG", rows/1e9)
	case rows >= 1e6:
		return fmt.Sprintf("%.1fM", rows/1e6)
	case rows >= 1e4:
		return fmt.Sprintf("%.0fk", rows/1e3)
	}
	return fmt.Sprintf("%.0f", rows)
}
