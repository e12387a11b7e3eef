package bench

import (
	"math"
	"slices"
	"sync/atomic"
	"time"
)

// Latency summarises request durations, in milliseconds.
type Latency struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of sorted, a
// slice in ascending order: the smallest value such that at least p% of the values
// are less than or equal to it. It returns 0 for an empty slice.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

// Summarize sorts d in place and returns its mean, p50, p90, p99 and max.
func Summarize(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	ms := func(v time.Duration) float64 { return float64(v) / float64(time.Millisecond) }
	return Latency{
		Mean: ms(sum) / float64(len(d)),
		P50:  ms(Percentile(d, 50)),
		P90:  ms(Percentile(d, 90)),
		P99:  ms(Percentile(d, 99)),
		Max:  ms(d[len(d)-1]),
	}
}

// Tally does the lost-update accounting of a run. Every successful request of the
// bench page increments its session's counter once and returns the new value, so after
// the run the counter of a session must equal the number of successful requests made
// on it. The read-back request increments it once more: a session is consistent when
// its read-back returns made+1. Each update missing from the counter is a lost update.
//
// A failed request may or may not have incremented the counter (it is not counted as
// made), so a counter above made+1 is not an error, and only missing updates count.
type Tally struct {
	made  []atomic.Int64
	final []int64 // counter returned by the read-back; 0 while unknown
}

// NewTally returns a tally for n sessions.
func NewTally(n int) *Tally {
	return &Tally{made: make([]atomic.Int64, n), final: make([]int64, n)}
}

// Made records one successful request on session s. Safe for concurrent use.
func (t *Tally) Made(s int) { t.made[s].Add(1) }

// Final records the counter the read-back request of session s returned. Each
// session's read-back must be recorded by one goroutine.
func (t *Tally) Final(s int, counter int64) { t.final[s] = counter }

// LostUpdates is the outcome of a Tally.
type LostUpdates struct {
	Made       int64 // successful requests over all sessions
	Lost       int64 // sum over sessions of max(0, made - (read-back counter - 1))
	Sessions   int   // sessions with at least one lost update
	Unverified int   // sessions whose read-back failed
}

// Lost computes the lost updates once every request has ended.
func (t *Tally) Lost() LostUpdates {
	var r LostUpdates
	for s := range t.made {
		made := t.made[s].Load()
		r.Made += made
		if t.final[s] <= 0 {
			r.Unverified++
			continue
		}
		if lost := made - (t.final[s] - 1); lost > 0 {
			r.Lost += lost
			r.Sessions++
		}
	}
	return r
}
