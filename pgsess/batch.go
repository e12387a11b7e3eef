package pgsess

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// A batcher sends the statements of concurrent requests together: while one batch is
// in flight, the next requests queue, and go out as one pgx.Batch in one round trip
// and one transaction (one commit, one disk flush). An idle store sends each statement
// at once, so batching adds no latency; under load it saves the round trips, the
// wakeups of PostgreSQL backends and the commits of all but one statement per batch.
//
// One statement's error aborts its whole batch's transaction, so after PostgreSQL
// refused a statement every statement of the batch is run again on its own, and only
// its own error is reported. A failed connection fails every statement of the batch
// instead: whether one may run again, after the batch may have been committed, is for
// its caller to say (Store.try).
type batcher struct {
	pool          pgxPool
	before, after []string // statements around each batch (BEGIN … COMMIT), if any
	jobs          chan *job
	max           int
	stop          chan struct{}
}

// pgxPool is the part of *pgxpool.Pool a batcher uses.
type pgxPool interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// job is one statement and how its result is read.
type job struct {
	sql  string
	args []any
	// read reads the statement's result: a row (QueryRow) or a command tag (Exec).
	read func(pgx.BatchResults) error
	done chan error
	// state is jobQueued until a worker takes the job into a batch (jobTaken), or
	// its caller gives up waiting before that (jobDropped): the one that changes it
	// first decides.
	state atomic.Int32
}

// A job's states.
const (
	jobQueued = iota
	jobTaken
	jobDropped
)

// batchTimeout bounds a batch, whose statements belong to many requests.
const batchTimeout = 30 * time.Second

// newBatcher starts workers goroutines that each send batches of up to max statements,
// between the before and after statements, until stop is closed.
func newBatcher(pool pgxPool, workers, max int, before, after []string, stop chan struct{}) *batcher {
	b := &batcher{pool: pool, before: before, after: after, jobs: make(chan *job, 4*max), max: max, stop: stop}
	for range workers {
		go b.work()
	}
	return b
}

// do runs one statement through the batcher and waits for its result.
func (b *batcher) do(ctx context.Context, sql string, read func(pgx.BatchResults) error, args ...any) error {
	j := &job{sql: sql, args: args, read: read, done: make(chan error, 1)}
	select {
	case b.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.stop:
		return pgx.ErrTxClosed
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		if j.state.CompareAndSwap(jobQueued, jobDropped) {
			return ctx.Err() // never sent
		}
		// Sent already, perhaps in another request's batch: what it did (a lease it
		// took, a row it read into the caller's variables) is the caller's to know,
		// so its result is waited for, which batchTimeout bounds.
		return <-j.done
	}
}

func firstArg(j *job) string {
	if len(j.args) > 0 {
		if s, ok := j.args[0].(string); ok {
			return s
		}
	}
	return ""
}

func (b *batcher) work() {
	for {
		var first *job
		select {
		case first = <-b.jobs:
		case <-b.stop:
			return
		}
		jobs := slices.DeleteFunc(drain(b.jobs, []*job{first}, b.max), func(j *job) bool {
			return !j.state.CompareAndSwap(jobQueued, jobTaken) // its caller gave up
		})
		if len(jobs) > 0 {
			b.send(jobs)
		}
	}
}

// drain appends to jobs what ch holds at the moment, up to max jobs in all.
func drain[T any](ch <-chan T, jobs []T, max int) []T {
	for len(jobs) < max {
		select {
		case j := <-ch:
			jobs = append(jobs, j)
		default:
			return jobs
		}
	}
	return jobs
}

// send runs jobs as one batch, or one by one after PostgreSQL refused one.
func (b *batcher) send(jobs []*job) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	if err := b.sendBatch(ctx, jobs); err == nil || len(jobs) == 1 || connLost(err) {
		for _, j := range jobs {
			j.done <- err
		}
		return
	}
	for _, j := range jobs {
		j.done <- b.sendBatch(ctx, []*job{j})
	}
}

// sendBatch sends jobs in one batch and reads every result; it returns the first error,
// after which the batch's transaction is rolled back. Jobs go in the order of their
// first argument (the session id), so that batches of several daemons touching the
// same sessions lock their rows in the same order and cannot deadlock.
func (b *batcher) sendBatch(ctx context.Context, jobs []*job) error {
	slices.SortFunc(jobs, func(x, y *job) int { return strings.Compare(firstArg(x), firstArg(y)) })
	batch := &pgx.Batch{}
	for _, stmt := range b.before {
		batch.Queue(stmt)
	}
	for _, j := range jobs {
		batch.Queue(j.sql, j.args...)
	}
	for _, stmt := range b.after {
		batch.Queue(stmt)
	}
	br := b.pool.SendBatch(ctx, batch)
	defer br.Close()
	for range b.before {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	for _, j := range jobs {
		if err := j.read(br); err != nil {
			return err
		}
	}
	for range b.after {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	return br.Close()
}
