package diff

import "github.com/goldenpcr/goldenpcr/pcr"

// StepKind says how an expected and an actual event compare.
type StepKind string

const (
	// Same: both sides have the event, with the same digest.
	Same StepKind = "same"
	// Changed: both have an event of that identity (or, between two
	// matches, of that type), with other digests.
	Changed StepKind = "changed"
	// Missing: the expected event is not in the actual log.
	Missing StepKind = "missing"
	// Extra: the actual log has an event the expected side does not.
	Extra StepKind = "extra"
)

// Step is one event of either side, or a pair of them.
type Step struct {
	Kind     StepKind `json:"kind" yaml:"kind"`
	Expected *Entry   `json:"expected,omitempty" yaml:"expected,omitempty"`
	Actual   *Entry   `json:"actual,omitempty" yaml:"actual,omitempty"`
	Hints    []Hint   `json:"hints,omitempty" yaml:"hints,omitempty"`
}

// maxAlignCells bounds the table of the best alignment (one int32 per
// pair of events: 16 MiB); a PCR with more event pairs is aligned
// greedily instead, in time linear in its events. Real PCRs hold tens to
// a few hundred events.
const maxAlignCells = 1 << 22

// align pairs the expected and actual events of one PCR, comparing
// digests in bank alg. It finds the alignment that pairs the most events
// of equal identity, an equal digest counting more than another digest,
// then calls a missing and an extra event of the same type that stand
// between the same two pairs one changed event (another boot application,
// a renamed file).
func align(exp, act []Entry, alg pcr.Alg) []Step {
	var steps []Step
	if len(exp)*len(act) <= maxAlignCells {
		steps = alignBest(exp, act, alg)
	} else {
		steps = alignGreedy(exp, act, alg)
	}
	return pairAdjacent(steps, alg)
}

// weight is what pairing e and a is worth: 0 when their identities
// differ, 3 for the same digest, 1 for another one (so that two equal
// pairs beat one pair with another digest).
func weight(e, a *Entry, alg pcr.Alg) int32 {
	if e.Key != a.Key {
		return 0
	}
	de, ok1 := e.digest(alg)
	da, ok2 := a.digest(alg)
	if ok1 && ok2 && de == da {
		return 3
	}
	return 1
}

func pairStep(e, a *Entry, alg pcr.Alg) Step {
	if weight(e, a, alg) == 3 {
		return Step{Kind: Same, Expected: e, Actual: a}
	}
	return Step{Kind: Changed, Expected: e, Actual: a}
}

// alignBest is the heaviest common subsequence by dynamic programming.
func alignBest(exp, act []Entry, alg pcr.Alg) []Step {
	n, m := len(exp), len(act)
	w := m + 1
	best := make([]int32, (n+1)*w)
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			v := max(best[(i+1)*w+j], best[i*w+j+1])
			if p := weight(&exp[i], &act[j], alg); p > 0 {
				v = max(v, best[(i+1)*w+j+1]+p)
			}
			best[i*w+j] = v
		}
	}
	var steps []Step
	i, j := 0, 0
	for i < n && j < m {
		switch p := weight(&exp[i], &act[j], alg); {
		case p > 0 && best[i*w+j] == best[(i+1)*w+j+1]+p:
			steps = append(steps, pairStep(&exp[i], &act[j], alg))
			i, j = i+1, j+1
		case best[i*w+j] == best[i*w+j+1]:
			steps = append(steps, Step{Kind: Extra, Actual: &act[j]})
			j++
		default:
			steps = append(steps, Step{Kind: Missing, Expected: &exp[i]})
			i++
		}
	}
	return appendRest(steps, exp[i:], act[j:])
}

// alignGreedy pairs each expected event with the next actual event of its
// identity, if any.
func alignGreedy(exp, act []Entry, alg pcr.Alg) []Step {
	at := map[string][]int{}
	for j := range act {
		at[act[j].Key] = append(at[act[j].Key], j)
	}
	var steps []Step
	j := 0
	for i := range exp {
		pos := at[exp[i].Key]
		for len(pos) > 0 && pos[0] < j {
			pos = pos[1:]
		}
		at[exp[i].Key] = pos
		if len(pos) == 0 {
			steps = append(steps, Step{Kind: Missing, Expected: &exp[i]})
			continue
		}
		for ; j < pos[0]; j++ {
			steps = append(steps, Step{Kind: Extra, Actual: &act[j]})
		}
		steps = append(steps, pairStep(&exp[i], &act[j], alg))
		j++
	}
	return appendRest(steps, nil, act[j:])
}

func appendRest(steps []Step, exp, act []Entry) []Step {
	for i := range exp {
		steps = append(steps, Step{Kind: Missing, Expected: &exp[i]})
	}
	for j := range act {
		steps = append(steps, Step{Kind: Extra, Actual: &act[j]})
	}
	return steps
}

// pairAdjacent joins, within each run of unpaired steps, the k-th missing
// and the k-th extra event of the same type into one changed step.
func pairAdjacent(steps []Step, alg pcr.Alg) []Step {
	out := steps[:0:0]
	for start := 0; start < len(steps); {
		if k := steps[start].Kind; k == Same || k == Changed {
			out = append(out, steps[start])
			start++
			continue
		}
		end := start
		for end < len(steps) && (steps[end].Kind == Missing || steps[end].Kind == Extra) {
			end++
		}
		run := steps[start:end]
		used := make([]bool, len(run))
		for i := range run {
			if used[i] || run[i].Kind != Missing {
				continue
			}
			for j := range run {
				if !used[j] && run[j].Kind == Extra && run[j].Actual.Type == run[i].Expected.Type {
					used[j] = true
					run[i] = pairStep(run[i].Expected, run[j].Actual, alg)
					break
				}
			}
		}
		for i := range run {
			if !used[i] {
				out = append(out, run[i])
			}
		}
		start = end
	}
	return out
}
