package pgsess

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// blockingPool sends each batch only once release is closed, and records them.
type blockingPool struct {
	release chan struct{}
	mu      sync.Mutex
	sent    [][]string // the SQL of each batch
}

func (p *blockingPool) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	var sqls []string
	for _, q := range b.QueuedQueries {
		sqls = append(sqls, q.SQL)
	}
	p.mu.Lock()
	p.sent = append(p.sent, sqls)
	p.mu.Unlock()
	<-p.release
	return okResults{}
}

// okResults answers every statement of a batch with an empty command tag.
type okResults struct{}

func (okResults) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, nil }
func (okResults) Query() (pgx.Rows, error)         { return nil, errors.New("not here") }
func (okResults) QueryRow() pgx.Row                { return nil }
func (okResults) Close() error                     { return nil }
func (okResults) Tx() pgx.Tx                       { return nil }

func TestBatcherWaitsForAStatementInFlightAndDropsOneStillQueued(t *testing.T) {
	pool := &blockingPool{release: make(chan struct{})}
	stop := make(chan struct{})
	defer close(stop)
	b := newBatcher(pool, 1, 1, nil, nil, stop) // one worker, one statement per batch

	// The first statement is sent (the pool holds it) when its caller gives up: its
	// result still comes back to it, and what its read did is done by then.
	var read bool
	first := make(chan error, 1)
	ctx1, cancel1 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel1()
	go func() {
		first <- b.do(ctx1, "first", func(br pgx.BatchResults) error { read = true; _, err := br.Exec(); return err })
	}()
	for {
		pool.mu.Lock()
		n := len(pool.sent)
		pool.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	// The second waits behind it in the queue, and gives up there.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if err := b.do(ctx2, "second", rowsAffected(new(int64))); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a statement still queued when its caller gave up: %v, want DeadlineExceeded", err)
	}
	<-ctx1.Done()
	close(pool.release)
	if err := <-first; err != nil || !read {
		t.Fatalf("the statement in flight: %v, read %v; want its own result, read", err, read)
	}
	// A third goes out; the dropped second never does.
	if err := b.do(context.Background(), "third", rowsAffected(new(int64))); err != nil {
		t.Fatal(err)
	}
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if len(pool.sent) != 2 || pool.sent[0][0] != "first" || pool.sent[1][0] != "third" {
		t.Fatalf("batches sent: %v, want [[first] [third]]", pool.sent)
	}
}
