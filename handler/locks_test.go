package handler

import (
	"context"
	"testing"
	"time"
)

func TestLockTableLeavesTheHeirToTheNextHolderOnly(t *testing.T) {
	tab := newLockTable()
	release, heir, err := tab.lock(context.Background(), "s", "")
	if err != nil || heir.token != "" {
		t.Fatalf("first lock: %+v %v", heir, err)
	}
	if tab.waiting("s") {
		t.Fatal("Waiting with no waiter")
	}
	got := make(chan handover)
	go func() {
		release, heir, err := tab.lock(context.Background(), "s", "")
		if err != nil {
			t.Error(err)
		}
		release(handover{})
		got <- heir
	}()
	for !tab.waiting("s") {
		time.Sleep(time.Millisecond)
	}
	release(handover{token: "tok", chain: 1})
	if h := <-got; h.token != "tok" || h.chain != 1 {
		t.Fatalf("the waiter inherited %+v", h)
	}
	_, heir, ok := tab.tryLock("s")
	if !ok || heir.token != "" {
		t.Fatalf("after a release that left nothing: %+v %v", heir, ok)
	}
}

func TestLockTableHandsAnUnclaimedHeirToOrphaned(t *testing.T) {
	tab := newLockTable()
	orphaned := make(chan handover, 1)
	tab.orphaned = func(id string, h handover) {
		if id != "s" {
			t.Errorf("orphaned id %q", id)
		}
		orphaned <- h
	}
	release, _, _ := tab.lock(context.Background(), "s", "")
	// A waiter that gives up: the heir left meanwhile has nobody to go to.
	ctx, cancel := context.WithCancel(context.Background())
	waited := make(chan error)
	go func() {
		_, _, err := tab.lock(ctx, "s", "")
		waited <- err
	}()
	for !tab.waiting("s") {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-waited; err == nil {
		t.Fatal("a cancelled wait got the lock")
	}
	release(handover{token: "tok"})
	select {
	case h := <-orphaned:
		if h.token != "tok" {
			t.Fatalf("orphaned %+v", h)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the unclaimed heir never reached Orphaned")
	}
	if tab.len() != 0 {
		t.Fatalf("%d entries left", tab.len())
	}
}

// Holders waiting in a cycle for each other's locks (two or three requests each ending
// the others' sessions) would wait forever: the last to wait gets errDeadlock at once,
// and the first gets its lock when that one releases. A wait for a holder that waits
// for nothing of ours stays a wait.
func TestLockTableRefusesTheWaitThatClosesACycle(t *testing.T) {
	for _, ids := range [][]string{{"a", "b"}, {"a", "b", "c"}} {
		tab := newLockTable()
		releases := map[string]func(handover){}
		for _, id := range ids {
			release, _, ok := tab.tryLock(id)
			if !ok {
				t.Fatal(id)
			}
			releases[id] = release
		}
		// Each holder but the last waits for the next one's lock.
		got := make(chan string, len(ids))
		for i, id := range ids[:len(ids)-1] {
			next := ids[i+1]
			go func() {
				release, _, err := tab.lock(context.Background(), next, id)
				if err != nil {
					t.Errorf("%s waiting for %s: %v", id, next, err)
					got <- ""
					return
				}
				release(handover{})
				got <- next
			}()
			for !tab.waiting(next) {
				time.Sleep(time.Millisecond)
			}
		}
		last := ids[len(ids)-1]
		if _, _, err := tab.lock(context.Background(), ids[0], last); err != errDeadlock {
			t.Fatalf("%v: %s waiting for %s: %v, want errDeadlock", ids, last, ids[0], err)
		}
		// The last gives up and releases; the chain of waits unwinds behind it.
		releases[last](handover{})
		for i := len(ids) - 2; i >= 0; i-- {
			if g := <-got; g != ids[i+1] {
				t.Fatalf("%v: %q got its lock, want %s", ids, g, ids[i+1])
			}
			releases[ids[i]](handover{})
		}
		if n := tab.len(); n != 0 {
			t.Fatalf("%v: %d entries left", ids, n)
		}
	}

	// No cycle: a's holder waits for b, whose holder waits for c, whose holder waits
	// for nothing.
	tab := newLockTable()
	for _, id := range []string{"a", "b", "c"} {
		if _, _, ok := tab.tryLock(id); !ok {
			t.Fatal(id)
		}
	}
	go tab.lock(context.Background(), "c", "b")
	for !tab.waiting("c") {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := tab.lock(ctx, "b", "a"); err != context.DeadlineExceeded {
		t.Fatalf("waiting for b, whose holder waits for c: %v, want a wait to the deadline", err)
	}
}
